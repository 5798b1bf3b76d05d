// Runs the program under Pulumi's mocks (no engine, no cluster) and hands back every resource it declared.
import * as pulumi from "@pulumi/pulumi";

export interface Declared { type: string; name: string; inputs: Record<string, any> }

const declared: Declared[] = [];
pulumi.runtime.setMocks({
  newResource: args => {
    declared.push({ type: args.type, name: args.name, inputs: args.inputs });
    return { id: `${args.name}-id`, state: args.inputs };
  },
  call: args => args.inputs,
}, "coffea-shoppe", "test", false);

/** Declares what `run` declares and waits until every resource has been registered. */
export async function declare(run: () => void): Promise<Declared[]> {
  declared.length = 0;
  run();
  let seen = -1;
  while (seen !== declared.length) {
    seen = declared.length;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  return [...declared];
}

// kubernetes-models is ESM only: imported as such from this CommonJS build.
const importEsm = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<any>;

// The kinds the program declares, each with its model at kubernetes-models/<apiVersion>/<kind>.
const models: ReadonlySet<string> = new Set([
  "v1/Namespace", "v1/Service", "v1/ConfigMap", "v1/PersistentVolume", "v1/PersistentVolumeClaim", "apps/v1/Deployment", "apps/v1/StatefulSet",
  "policy/v1/PodDisruptionBudget", "networking.k8s.io/v1/NetworkPolicy", "networking.k8s.io/v1/Ingress", "storage.k8s.io/v1/StorageClass",
]);

/** Custom resources of operators a site may run: no OpenAPI schema here; the tests check them field by field. */
export const customResources: ReadonlySet<string> = new Set(["postgresql.cnpg.io/v1/Cluster", "keda.sh/v1alpha1/ScaledObject", "keda.sh/v1alpha1/TriggerAuthentication"]);

/** Validates an object against the Kubernetes OpenAPI schema of its kind; throws with the schema's complaint. */
export async function validateObject(object: Record<string, any>): Promise<void> {
  const key = `${object.apiVersion}/${object.kind}`;
  if (customResources.has(key)) return;
  if (!models.has(key)) throw new Error(`no schema known for ${key}`);
  const module = await importEsm(`kubernetes-models/${key}`);
  const Type = module[object.kind] ?? module.default;
  new Type(JSON.parse(JSON.stringify(object))).validate();
}
