// What the restricted Pod Security Standard asks of every pod and container the program declares, in one place.
import type * as k8s from "@pulumi/kubernetes";

/** The user the release's images run as (their Dockerfile's USER; conformance's ContainerEnvironment.ImageUser). */
export const imageUid = 10001;

/** A pod that runs as `uid` (never root), with no service-account token, no service links and the runtime's seccomp profile. */
export function restrictedPod(uid: number): Pick<k8s.types.input.core.v1.PodSpec, "automountServiceAccountToken" | "enableServiceLinks" | "securityContext"> {
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: "RuntimeDefault" } },
  };
}

/** A container with a read-only root filesystem, no privilege escalation and every capability dropped. */
export const restrictedContainer: k8s.types.input.core.v1.SecurityContext = {
  allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] },
};
