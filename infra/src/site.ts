// The site file: what a site deploys and with which of its hardware (docs/schemas/site.schema.json, docs/deploy.md).
import * as fs from "fs";
import * as path from "path";
import Ajv2020 from "ajv/dist/2020";
import * as YAML from "yaml";

export type ServiceName = "portal" | "delivery" | "cache" | "transfer" | "workflow" | "pushdown" | "logs";

export interface SecretRef { secret: string; key: string }
export interface ServiceSize { replicas?: number; cpu?: string; memory?: string }

export interface Site {
  site: string;
  namespace?: string;
  release: string;
  registry: string;
  ingress: { host: string; className?: string; tls: { issuer?: string; secretName?: string } };
  identity?: { authority: string; clientId: string; clientSecret: SecretRef; scopes?: string[]; userClaim?: string };
  telemetry?: { collectorImage: string; backends: { endpoint: string; protocol?: "grpc" | "http"; signals?: ("traces" | "metrics" | "logs")[]; authorization?: SecretRef }[] };
  postgres: {
    operator?: { instances: number; storage: string; storageClass?: string };
    external?: { host: string; port?: number; database: string; username: string; password: SecretRef; sslMode?: string };
    statefulSet?: { image: string; storage: string; storageClass?: string; password: SecretRef };
  };
  pilots?: { cores: number; memory: string; scratch?: string; min?: number; max?: number; keda?: string };
  logs?: {
    embedded?: { storage: string; storageClass?: string };
    elasticsearch?: { url: string; apiKey: SecretRef; indexPattern?: string };
  };
  cache?: { nodes?: { node: string; paths: string[]; capacity: string }[]; storageClass?: string; size?: string; replicas?: number };
  pushdown?: { nodes: string[]; path: string };
  gpu?: { product: string; count?: number; services: ServiceName[] };
  services?: Partial<Record<ServiceName, ServiceSize>>;
}

/** A site file that does not follow the schema: every problem, each naming its field. */
export class SiteError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: ${problems.join("; ")}`);
    this.name = "SiteError";
  }
}

// The schema lives in the repository's docs (the program runs from src/ under Pulumi and from dist/src/ in tests).
function schemaFile(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, "docs", "schemas", "site.schema.json");
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`docs/schemas/site.schema.json is not above ${__dirname}`);
}

let validator: ReturnType<Ajv2020["compile"]> | undefined;

function validate(value: unknown): string[] {
  validator ??= new Ajv2020({ allErrors: true, strict: true, strictRequired: false }).compile(JSON.parse(fs.readFileSync(schemaFile(), "utf8")));
  if (validator(value)) {
    return [];
  }
  // "oneOf" repeats what its branches said, and the branches' own messages name the fields; it speaks for itself only
  // where every branch held (both alternatives given).
  const errors = validator.errors ?? [];
  const named = errors.filter(e => e.keyword !== "oneOf");
  return (named.length > 0 ? named : errors).map(e => {
    const at = e.instancePath === "" ? "(top level)" : e.instancePath;
    switch (e.keyword) {
      case "additionalProperties": return `${at}: unknown field '${(e.params as { additionalProperty: string }).additionalProperty}'`;
      case "required": return `${at}: missing '${(e.params as { missingProperty: string }).missingProperty}'`;
      case "oneOf": return `${at}: give exactly one of its alternatives`;
      case "enum": return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")}`;
      default: return `${at}: ${e.message}`;
    }
  });
}

/** Reads and checks a site file (YAML); throws a SiteError naming each field that is wrong. */
export function loadSite(file: string): Site {
  const text = fs.readFileSync(file, "utf8");
  const document = YAML.parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new SiteError(file, document.errors.map(e => `not YAML: ${e.message}`));
  }
  return checkSite(document.toJS(), file);
}

/** Checks a parsed site against the schema and the rules a schema cannot say. */
export function checkSite(value: unknown, file = "site"): Site {
  const problems = validate(value);
  if (problems.length > 0) {
    throw new SiteError(file, problems);
  }
  const site = value as Site;
  const more: string[] = [];
  if (site.cache?.nodes) {
    const seen = new Set<string>();
    site.cache.nodes.forEach((n, i) => {
      if (seen.has(n.node)) more.push(`/cache/nodes/${i}/node: '${n.node}' is listed twice`);
      seen.add(n.node);
    });
  }
  if (site.cache?.nodes && (site.cache.size !== undefined || site.cache.replicas !== undefined)) {
    more.push("/cache: 'size' and 'replicas' go with 'storageClass'; with 'nodes' each disk's capacity is given");
  }
  if (site.pushdown && new Set(site.pushdown.nodes).size !== site.pushdown.nodes.length) {
    more.push("/pushdown/nodes: a node is listed twice");
  }
  if (site.pilots && site.pilots.max !== undefined && !site.pilots.keda) {
    more.push("/pilots/max: goes with 'keda' (without an autoscaler the Deployment keeps 'min' pilots)");
  }
  if (site.pilots?.keda && (site.pilots.min ?? 1) > (site.pilots.max ?? 10)) {
    more.push(`/pilots: min ${site.pilots.min ?? 1} is above max ${site.pilots.max ?? 10}`);
  }
  if (more.length > 0) {
    throw new SiteError(file, more);
  }
  return site;
}
