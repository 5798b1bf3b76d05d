// The release a site deploys: each service's image digest from its manifest (stack/releases/<version>/manifest.json),
// and the Pulumi program it was cut with, which must be this one.
import * as fs from "fs";
import * as path from "path";
import type { ServiceName } from "./site";

export const services: readonly ServiceName[] = ["portal", "delivery", "cache", "transfer", "workflow", "pushdown", "logs"];

export interface Release {
  version: string;
  /** Each service's image digest (sha256:...), as the release recorded it. */
  images: Record<ServiceName, string>;
  /** The CLI's image digest, which pilots run (`shoppe pilot`), where the release has one. */
  pilotImage?: string;
}

interface Manifest {
  stackVersion?: string;
  components?: { name: string; containerImage?: string | null }[];
  infra?: { path?: string; version?: string; sha256?: string };
}

const digest = /^sha256:[0-9a-f]{64}$/;

/** This program's own version (infra/package.json). */
export function programVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, "package.json");
    if (fs.existsSync(candidate)) return (JSON.parse(fs.readFileSync(candidate, "utf8")) as { version: string }).version;
  }
  throw new Error(`infra/package.json is not above ${__dirname}`);
}

/**
 * Reads a manifest (its signature checked before, by `shoppe site deploy`): every service must have an image digest,
 * and the release must have been cut with this program's version.
 */
export function loadRelease(manifestFile: string): Release {
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Manifest;
  if (typeof manifest.stackVersion !== "string" || !Array.isArray(manifest.components)) {
    throw new Error(`${manifestFile}: not a release manifest (no stackVersion or components)`);
  }
  const own = programVersion();
  if (manifest.infra?.version !== own) {
    throw new Error(`${manifestFile}: release ${manifest.stackVersion} deploys with the Pulumi program ${manifest.infra?.version ?? "(none recorded)"}; this is ${own} (check out the release's commit)`);
  }
  const images = {} as Record<ServiceName, string>;
  const missing: string[] = [];
  for (const name of services) {
    const image = manifest.components.find(c => c.name === name)?.containerImage;
    if (typeof image === "string" && digest.test(image)) {
      images[name] = image;
    } else {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new Error(`${manifestFile}: release ${manifest.stackVersion} records no image digest for ${missing.join(", ")} (images are built and recorded by certification with containers)`);
  }
  const cli = manifest.components.find(c => c.name === "cli")?.containerImage;
  return { version: manifest.stackVersion, images, pilotImage: typeof cli === "string" && digest.test(cli) ? cli : undefined };
}
