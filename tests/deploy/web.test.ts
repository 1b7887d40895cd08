import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../web/src/config.js";
import { REPO, template, TOOL_BUILD_TIMEOUT_MS, tools, validateObjects, type K8sObject, type Tools } from "./tools.js";

/**
 * The web page on Kubernetes, offline: the image builds the page itself, nginx
 * serves it with an SPA fallback and cache headers, and the chart gives it a
 * /config.json that the page's own parser (web/src/config.ts) accepts, from
 * the chart's one place for auth values.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let t: Tools;
beforeAll(async () => {
  t = await tools();
}, TOOL_BUILD_TIMEOUT_MS);

const read = (path: string) => readFileSync(join(REPO, path), "utf8");
const nginx = read("deploy/docker/nginx.conf");

async function render(valueFiles: string[], flags: string[] = []): Promise<K8sObject[]> {
  const rendered = await template(t, valueFiles, flags);
  if (rendered.code !== 0) throw new Error(rendered.stderr);
  const { objects, errors } = await validateObjects(t, rendered.stdout);
  expect(errors).toEqual([]);
  return objects;
}

const webObject = (objects: K8sObject[], kind: string) =>
  objects.find((o) => o.kind === kind && o.metadata.labels?.["app.kubernetes.io/component"] === "web");

describe("web image", () => {
  const dockerfile = read("Dockerfile").replace(/\\\n\s*/g, " ");
  const stage = (name: string) => {
    const start = dockerfile.search(new RegExp(`^FROM \\S+ AS ${name}$`, "m"));
    expect(start, `stage ${name}`).toBeGreaterThanOrEqual(0);
    const rest = dockerfile.slice(start);
    const end = rest.slice(1).search(/^FROM /m);
    return rest.slice(0, end < 0 ? undefined : end + 1);
  };

  it("builds the page from web/ with Vite in the image, not from a local web/dist", () => {
    const build = stage("web-build");
    expect(build).toMatch(/^RUN npm ci --no-audit --no-fund$/m);
    expect(build).toMatch(/^COPY web web$/m);
    expect(build).toMatch(/^RUN npx vite build web$/m);
    const web = stage("web");
    expect(web).toMatch(/^FROM \$\{NGINX_IMAGE\} AS web$/m);
    expect(web).toContain("COPY --from=web-build /app/web/dist/ /usr/share/nginx/html/");
    expect(web).toContain("COPY deploy/docker/nginx.conf /etc/nginx/conf.d/default.conf");
    const ignored = read(".dockerignore").split("\n").map((l) => l.trim());
    expect(ignored).toContain("web/dist");
    expect(ignored.filter((l) => /^web(\/\*)?$/.test(l))).toEqual([]);
  });

  it("serves the page with an SPA fallback, immutable assets, a revalidated page and /config.json from the ConfigMap's mount", () => {
    expect(nginx).toMatch(/listen 8080;/);
    expect(nginx).toMatch(/location \/ \{[^}]*try_files \$uri \$uri\/ \/index\.html;[^}]*\}/);
    expect(nginx).toMatch(/location \/ \{[^}]*expires epoch;/);
    expect(nginx).toMatch(/location \^~ \/assets\/ \{[^}]*immutable[^}]*try_files \$uri =404;[^}]*\}/);
    expect(nginx).toMatch(/location = \/config\.json \{[^}]*alias \/etc\/cfs-web\/config\.json;[^}]*expires epoch;/);
  });
});

describe("web chart", () => {
  it("gives the page a dev sign-in at the dev issuer by default, mounted where nginx reads it, on a read-only root", async () => {
    const objects = await render([]);
    const cm = webObject(objects, "ConfigMap")!;
    expect(parseConfig(JSON.parse(cm.data["config.json"]))).toEqual({
      apiBaseUrl: "",
      auth: { mode: "dev", tokenUrl: "http://localhost:8090/dev/token" },
    });
    const deployment = webObject(objects, "Deployment")!;
    const pod: Json = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(container.ports[0].containerPort).toBe(Number(/listen (\d+);/.exec(nginx)![1]));
    const mount = container.volumeMounts.find((m: Json) => m.name === "config");
    expect(`${mount.mountPath}/config.json`).toBe(/alias (\S+);/.exec(nginx)![1]);
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v: Json) => v.name === "config");
    expect(volume.configMap.name).toBe(cm.metadata.name);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.volumeMounts.find((m: Json) => m.name === "tmp").mountPath).toBe("/tmp");
    expect(deployment.spec.template.metadata.annotations["checksum/config"]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("signs in with Auth0 (domain of auth.issuer, auth.audience, web.auth0ClientId) without the dev issuer", async () => {
    const objects = await render(["ci/external.yaml"]);
    const config = parseConfig(JSON.parse(webObject(objects, "ConfigMap")!.data["config.json"]));
    expect(config).toEqual({
      apiBaseUrl: "",
      auth: { mode: "auth0", domain: "cfs-example.eu.auth0.com", clientId: "k3yExampleSpaClient1d", audience: "https://api.cfs.example.com" },
    });
  });

  it("rolls the pods when the page's configuration changes", async () => {
    const checksum = async (flags: string[]) =>
      webObject(await render(["ci/external.yaml"], flags), "Deployment")!.spec.template.metadata.annotations["checksum/config"];
    expect(await checksum([])).not.toBe(await checksum(["--set", "web.auth0ClientId=another"]));
  });

  it("refuses Auth0 without the SPA's client id, and a malformed one", async () => {
    const missing = await template(t, ["ci/external.yaml"], ["--set", "web.auth0ClientId="]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/web\.auth0ClientId is required unless devIssuer\.enabled/);
    const malformed = await template(t, ["ci/external.yaml"], ["--set", "web.auth0ClientId=a b"]);
    expect(malformed.code).not.toBe(0);
    expect(malformed.stderr).toMatch(/auth0ClientId/);
    // Without the page, nothing is needed.
    const off = await template(t, ["ci/external.yaml"], ["--set", "web.auth0ClientId=", "--set", "web.enabled=false"]);
    expect(off.code, off.stderr).toBe(0);
  });
});
