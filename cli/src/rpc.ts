import * as grpc from "@grpc/grpc-js";
import type { ChunkerServiceClient, GetUploadConfigResponse } from "#gen/cfs/chunker/v1/chunker.js";
import { AppPasswordServiceClient } from "#gen/cfs/metadata/v1/app_passwords.js";
import { ChunkerClient } from "#lib/bulk-codecs.js";
import { MetadataServiceClient } from "#gen/cfs/metadata/v1/metadata.js";
import { SyncServiceClient } from "#gen/cfs/sync/v1/sync.js";
import { optionalStr, str, type Env } from "#lib/config.js";
import { callMetadata, channelOptions, UNARY_TIMEOUT_MS, type UnaryMethod } from "#lib/grpc-client.js";
import { CliError, ExitCode } from "./errors.js";

/** What the CLI reads from its environment. */
export interface Settings {
  token: string | undefined;
  chunkerAddress: string;
  metadataAddress: string;
  syncAddress: string;
  devIssuerUrl: string;
}

export function settingsFrom(env: Env): Settings {
  return {
    token: optionalStr(env, "CFS_TOKEN"),
    chunkerAddress: str(env, "CFS_CHUNKER_ADDR", "localhost:8002"),
    metadataAddress: str(env, "CFS_METADATA_ADDR", "localhost:8000"),
    syncAddress: str(env, "CFS_SYNC_ADDR", "localhost:8001"),
    devIssuerUrl: str(env, "CFS_DEV_ISSUER_URL", "http://127.0.0.1:8090"),
  };
}

/** The services' default limits: 256 KiB frames fit with room to spare. */
const MESSAGE_BYTES = 4 * 1024 * 1024;
const FLOW_CONTROL_WINDOW_BYTES = 4 * 1024 * 1024;

/** Clients of the public services, authenticated with CFS_TOKEN. */
export class Connection {
  readonly chunker: ChunkerServiceClient;
  readonly metadata: MetadataServiceClient;
  readonly appPasswords: AppPasswordServiceClient;
  readonly sync: SyncServiceClient;
  /** Call metadata carrying `authorization: Bearer <token>`. */
  readonly auth: grpc.Metadata;
  private config: Promise<GetUploadConfigResponse> | undefined;

  /** `signal` aborts on Ctrl-C; every call started here is cancelled then. */
  constructor(
    settings: Settings,
    readonly signal: AbortSignal,
  ) {
    if (!settings.token) {
      throw new CliError(ExitCode.denied, "CFS_TOKEN is not set (for a development stack: export CFS_TOKEN=$(cfs token alice))");
    }
    this.auth = callMetadata({ token: settings.token });
    const options = channelOptions(MESSAGE_BYTES, FLOW_CONTROL_WINDOW_BYTES);
    this.chunker = new ChunkerClient(settings.chunkerAddress, grpc.credentials.createInsecure(), options);
    this.metadata = new MetadataServiceClient(settings.metadataAddress, grpc.credentials.createInsecure(), options);
    this.appPasswords = new AppPasswordServiceClient(settings.metadataAddress, grpc.credentials.createInsecure(), options);
    this.sync = new SyncServiceClient(settings.syncAddress, grpc.credentials.createInsecure(), options);
  }

  /**
   * A unary call with a 30 s deadline. It rejects with the grpc-js
   * ServiceError itself so the exit code comes from its status code.
   */
  unary<Q, R>(method: UnaryMethod<Q, R>, request: Q): Promise<R> {
    let call!: grpc.ClientUnaryCall;
    const response = new Promise<R>((resolve, reject) => {
      call = method(request, this.auth, { deadline: Date.now() + UNARY_TIMEOUT_MS }, (err, reply) =>
        err ? reject(err) : resolve(reply),
      );
    });
    return response.finally(this.cancelOnAbort(call));
  }

  /** How the server cuts content (asked once per connection). */
  uploadConfig(): Promise<GetUploadConfigResponse> {
    this.config ??= this.unary(this.chunker.getUploadConfig.bind(this.chunker), {});
    this.config.catch(() => (this.config = undefined));
    return this.config;
  }

  /** Cancels `call` on Ctrl-C (at once if it came already) until the returned function is called. */
  cancelOnAbort(call: { cancel(): void }): () => void {
    const cancel = () => call.cancel();
    if (this.signal.aborted) cancel();
    this.signal.addEventListener("abort", cancel, { once: true });
    return () => this.signal.removeEventListener("abort", cancel);
  }

  close(): void {
    this.chunker.close();
    this.metadata.close();
    this.appPasswords.close();
    this.sync.close();
  }
}
