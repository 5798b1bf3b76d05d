#!/usr/bin/env bash
# Installs the `shoppe` command from this checkout as a .NET global tool (~/.dotnet/tools/shoppe), or replaces the one
# installed before with this checkout's: run it again after pulling. Idempotent.
# The tool runs on the .NET 10 runtime the SDK brings. A release's self-contained CLI needs no .NET: see
# docs/release-process.md, "Install the CLI".
set -euo pipefail
cd "$(dirname "$0")/.."

out=artifacts/tool
version=$(tr -d '[:space:]' < VERSION)
rm -rf "$out"
dotnet pack stack/Shoppe.Cli -c Release -o "$out" -nologo -clp:ErrorsOnly

# Same version, new build: `dotnet tool update` would keep the installed copy, so the old one goes first.
if dotnet tool list --global | awk 'NR > 2 { print $1 }' | grep -qx 'shoppe.cli'; then
  dotnet tool uninstall --global Shoppe.Cli >/dev/null
fi
# --source, not --add-source: the package comes from this checkout only, never from a feed with the same id.
dotnet tool install --global --source "$out" Shoppe.Cli --version "$version"

case ":$PATH:" in
  *":$HOME/.dotnet/tools:"*) ;;
  *) echo "Add ~/.dotnet/tools to PATH to run shoppe: export PATH=\"\$PATH:\$HOME/.dotnet/tools\"" ;;
esac
