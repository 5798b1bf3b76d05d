// Workflow pilots: `shoppe pilot` (the release's CLI image) as a Deployment that takes jobs from the workflow service
// and files from delivery, sized by KEDA from the jobs waiting where the site runs KEDA.
import * as k8s from "@pulumi/kubernetes";
import { imageUid, restrictedContainer, restrictedPod } from "./security";
import { serviceTokensSecret, serviceUrl, type Facility } from "./facility";

/** The pilots' component name (their pods' app.kubernetes.io/name). */
export const pilots = "pilots";

/** Declares the pilots where the site asks for them. */
export function declarePilots(f: Facility, pilotImage: string | undefined): void {
  const p = f.site.pilots;
  if (!p || !pilotImage) return; // deployFacility refused pilots without the CLI's image before declaring anything
  const url = (service: string) => serviceUrl(f.ns, service);
  const min = p.min ?? 1;
  const cpu = String(p.cores);
  new k8s.apps.v1.Deployment(pilots, {
    metadata: { name: pilots, namespace: f.ns, labels: f.labels(pilots) },
    spec: {
      // With KEDA the ScaledObject owns the count; without it the site's minimum is the count.
      replicas: p.keda ? undefined : min,
      selector: { matchLabels: { ...f.selector(pilots), "app.kubernetes.io/component": pilots } },
      template: {
        metadata: { labels: { ...f.labels(pilots), "app.kubernetes.io/component": pilots } },
        spec: {
          ...restrictedPod(imageUid),
          containers: [{
            name: pilots,
            image: `${f.site.registry}/cli@${pilotImage}`,
            args: ["pilot", "--cores", cpu, "--work-dir", "/work", "--cache", url("cache")],
            env: [
              { name: "SHOPPE_PILOT_SERVERS", value: `${url("workflow")},${url("delivery")}` },
              // A pilot-role token: it runs any user's jobs.
              { name: "SHOPPE_TOKEN", valueFrom: { secretKeyRef: { name: serviceTokensSecret, key: pilots } } },
            ],
            resources: { requests: { cpu, memory: p.memory }, limits: { cpu, memory: p.memory } },
            securityContext: restrictedContainer,
            volumeMounts: [{ name: "work", mountPath: "/work" }, { name: "tmp", mountPath: "/tmp" }],
          }],
          volumes: [{ name: "work", emptyDir: { sizeLimit: p.scratch ?? "20Gi" } }, { name: "tmp", emptyDir: { sizeLimit: "1Gi" } }],
        },
      },
    },
  }, f.opts);
  // Pilots serve no one: nothing may connect to them.
  new k8s.networking.v1.NetworkPolicy(pilots, {
    metadata: { name: pilots, namespace: f.ns, labels: f.labels(pilots) },
    spec: { podSelector: { matchLabels: f.selector(pilots) }, policyTypes: ["Ingress"], ingress: [] },
  }, f.opts);
  if (!p.keda) return;

  // One pilot per `cores` of the pilots' jobs, ready and running (the workflow service's count), between min and max:
  // running jobs keep their pilots, so pilots go only when fewer jobs than their cores are left. KEDA asks with the
  // pilots' own token.
  new k8s.apiextensions.CustomResource(`${pilots}-demand`, {
    apiVersion: "keda.sh/v1alpha1",
    kind: "TriggerAuthentication",
    metadata: { name: `${pilots}-demand`, namespace: f.ns, labels: f.labels(pilots) },
    spec: { secretTargetRef: [{ parameter: "token", name: serviceTokensSecret, key: pilots }] },
  }, f.opts);
  new k8s.apiextensions.CustomResource(pilots, {
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: { name: pilots, namespace: f.ns, labels: f.labels(pilots) },
    spec: {
      scaleTargetRef: { name: pilots },
      minReplicaCount: min,
      maxReplicaCount: p.max ?? 10,
      pollingInterval: 15,
      cooldownPeriod: 300,
      triggers: [{
        type: "metrics-api",
        metadata: { url: `${url("workflow")}/v1/pilots/demand`, valueLocation: "pilotJobs", targetValue: cpu, authMode: "bearer" },
        authenticationRef: { name: `${pilots}-demand` },
      }],
    },
  }, f.opts);
}
