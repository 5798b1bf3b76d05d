// Bad site files are refused with a message naming each wrong field; a manifest without an image digest too.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkSite, loadSite, SiteError } from "../src/site";
import { loadRelease, programVersion } from "../src/release";

const external = { host: "pg.example.org", database: "shoppe", username: "shoppe", password: { secret: "pg", key: "password" } };
const good = { site: "laptop", release: "0.1.0", registry: "127.0.0.1:5000/coffea-shoppe", ingress: { host: "shoppe.localtest.me", tls: { secretName: "tls" } }, postgres: { external } };

function refused(value: unknown): string[] {
  try {
    checkSite(value, "bad.yaml");
  } catch (e) {
    assert.ok(e instanceof SiteError);
    return e.problems;
  }
  assert.fail("the site was accepted");
}

test("every example site follows the schema", () => {
  const sites = path.join(__dirname, "..", "..", "sites");
  for (const file of fs.readdirSync(sites).filter(f => f.endsWith(".yaml"))) {
    assert.doesNotThrow(() => loadSite(path.join(sites, file)), file);
  }
});

test("unknown fields, bad names and bad quantities are named", () => {
  assert.deepEqual(refused({ ...good, ingres: {} }), ["(top level): unknown field 'ingres'"]);
  assert.deepEqual(refused({ ...good, site: "Laptop_1" }), ["/site: must match pattern \"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$\""]);
  assert.deepEqual(refused({ ...good, cache: { nodes: [{ node: "n1", paths: ["/mnt/a"], capacity: "lots" }] } }),
    ["/cache/nodes/0/capacity: must match pattern \"^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$\""]);
  assert.deepEqual(refused({ ...good, gpu: { product: "A100", services: ["portal"] } }), ["/gpu/services/0: must be one of delivery, pushdown, workflow"]);
  assert.deepEqual(refused({ site: "x", release: "0.1.0", registry: "r.example.org", postgres: { external } }), ["(top level): missing 'ingress'"]);
});

test("a secret written into the site file is refused: secrets are referenced", () => {
  const problems = refused({ ...good, identity: { authority: "https://iam.example.org/", clientId: "c", clientSecret: "hunter2" } });
  assert.deepEqual(problems, ["/identity/clientSecret: must be object"]);
});

test("PostgreSQL is the operator's cluster, the site's server or a StatefulSet, exactly one; its password is referenced; its image pinned", () => {
  const operator = { instances: 1, storage: "10Gi" };
  const { postgres: _, ...without } = good;
  assert.deepEqual(refused(without), ["(top level): missing 'postgres'"]);
  assert.deepEqual(refused({ ...good, postgres: { operator, external } }), ["/postgres: give exactly one of its alternatives"]);
  const statefulSet = { image: `mirror.example.org/postgres@sha256:${"a".repeat(64)}`, storage: "10Gi", password: { secret: "pg", key: "password" } };
  assert.doesNotThrow(() => checkSite({ ...good, postgres: { statefulSet } }));
  assert.match(refused({ ...good, postgres: { statefulSet: { ...statefulSet, image: "postgres:16" } } })[0], /^\/postgres\/statefulSet\/image: must match pattern/);
  assert.deepEqual(refused({ ...good, postgres: { external: { ...external, password: "secret" } } }), ["/postgres/external/password: must be object"]);
  assert.doesNotThrow(() => checkSite({ ...good, postgres: { external } }));
});

test("rules the schema cannot say: a node twice, size with named disks", () => {
  assert.deepEqual(refused({ ...good, cache: { nodes: [{ node: "n1", paths: ["/a"], capacity: "1Ti" }, { node: "n1", paths: ["/b"], capacity: "1Ti" }] } }),
    ["/cache/nodes/1/node: 'n1' is listed twice"]);
  assert.match(refused({ ...good, cache: { nodes: [{ node: "n1", paths: ["/a"], capacity: "1Ti" }], size: "1Ti" } })[0], /^\/cache: 'size' and 'replicas' go with 'storageClass'/);
});

test("pilots: max goes with KEDA, and min is not above max", () => {
  assert.deepEqual(refused({ ...good, pilots: { cores: 4, memory: "8Gi", max: 20 } }), ["/pilots/max: goes with 'keda' (without an autoscaler the Deployment keeps 'min' pilots)"]);
  assert.deepEqual(refused({ ...good, pilots: { cores: 4, memory: "8Gi", min: 30, max: 20, keda: "keda" } }), ["/pilots: min 30 is above max 20"]);
  assert.doesNotThrow(() => checkSite({ ...good, pilots: { cores: 4, memory: "8Gi", min: 0, max: 20, keda: "keda" } }));
});

test("a file that is not YAML, or has a key twice, is refused", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "site-"));
  const file = path.join(dir, "twice.yaml");
  fs.writeFileSync(file, "site: a\nsite: b\n");
  assert.throws(() => loadSite(file), (e: unknown) => e instanceof SiteError && /not YAML: .*unique/i.test(e.message));
  fs.rmSync(dir, { recursive: true });
});

test("a manifest without every service's image digest is refused, naming them", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "manifest-"));
  const file = path.join(dir, "manifest.json");
  const components = ["portal", "delivery", "cache", "transfer", "workflow", "pushdown", "logs"].map(name => ({ name, containerImage: `sha256:${"a".repeat(64)}` }));
  components[1].containerImage = "sha256:short";
  const infra = { path: "infra", version: programVersion(), sha256: "0".repeat(64) };
  fs.writeFileSync(file, JSON.stringify({ stackVersion: "0.1.0", components: components.filter(c => c.name !== "logs"), infra }));
  assert.throws(() => loadRelease(file), /records no image digest for delivery, logs/);
  const all = components.map(c => ({ ...c, containerImage: `sha256:${"b".repeat(64)}` }));
  fs.writeFileSync(file, JSON.stringify({ stackVersion: "0.1.0", components: all, infra }));
  assert.equal(loadRelease(file).images.logs, `sha256:${"b".repeat(64)}`);
  assert.equal(loadRelease(file).pilotImage, undefined, "a release without the CLI's image has no pilot image");

  // A release cut with another version of this program is deployed with that one.
  fs.writeFileSync(file, JSON.stringify({ stackVersion: "0.1.0", components: all, infra: { ...infra, version: "0.0.9" } }));
  assert.throws(() => loadRelease(file), /deploys with the Pulumi program 0\.0\.9; this is .*check out the release's commit/);
  fs.rmSync(dir, { recursive: true });
});
