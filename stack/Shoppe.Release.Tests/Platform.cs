// Releases are cut, certified and tested on Linux (file modes, posix_fadvise, self-contained linux-x64).
[assembly: System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
