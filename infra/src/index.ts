// The Pulumi program: `shoppe site deploy --site FILE --release VERSION` checks the release's signature, then runs
// `pulumi up` here with the site file and the manifest in the stack's configuration (docs/deploy.md).
import * as pulumi from "@pulumi/pulumi";
import { deployFacility } from "./facility";
import { loadRelease } from "./release";
import { loadSite } from "./site";

const config = new pulumi.Config("coffea-shoppe");
const site = loadSite(config.require("site"));
const release = loadRelease(config.require("manifest"));
const outputs = deployFacility(site, release);

export const namespace = outputs.namespace;
export const portalUrl = outputs.portalUrl;
