// The release a site deploys: each service's image digest from its manifest (stack/releases/<version>/manifest.json).
import * as fs from "fs";
import type { ServiceName } from "./site";

export const services: readonly ServiceName[] = ["portal", "delivery", "cache", "transfer", "workflow", "pushdown", "logs"];

export interface Release {
  version: string;
  /** Each service's image digest (sha256:...), as the release recorded it. */
  images: Record<ServiceName, string>;
}

const digest = /^sha256:[0-9a-f]{64}$/;

/** Reads a manifest (its signature checked before, by `shoppe site deploy`); every service must have an image digest. */
export function loadRelease(manifestFile: string): Release {
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as { stackVersion?: string; components?: { name: string; containerImage?: string | null }[] };
  if (typeof manifest.stackVersion !== "string" || !Array.isArray(manifest.components)) {
    throw new Error(`${manifestFile}: not a release manifest (no stackVersion or components)`);
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
  return { version: manifest.stackVersion, images };
}
