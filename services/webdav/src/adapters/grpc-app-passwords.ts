import { credentials, type ChannelOptions } from "@grpc/grpc-js";
import { AppPasswordServiceClient } from "#gen/cfs/metadata/v1/app_passwords.js";
import { CfsError } from "#lib/errors.js";
import { callUnary, type CallIdentity } from "#lib/grpc-client.js";
import type { CredentialExchange } from "../ports/credentials.js";

/** AppPasswordService.ExchangeAppPassword, called with the WebDAV server's service identity. */
export class GrpcCredentialExchange implements CredentialExchange {
  readonly client: AppPasswordServiceClient;

  constructor(
    address: string,
    options: ChannelOptions,
    private readonly serviceIdentity: () => Promise<CallIdentity>,
  ) {
    this.client = new AppPasswordServiceClient(address, credentials.createInsecure(), options);
  }

  async exchange(username: string, secret: string): Promise<{ token: string; expiresAt: Date } | undefined> {
    try {
      const response = await callUnary(this.client.exchangeAppPassword.bind(this.client), { username, secret }, await this.serviceIdentity(), "metadata ExchangeAppPassword");
      return { token: response.accessToken, expiresAt: response.expiresAt ?? new Date(Date.now() + 60_000) };
    } catch (err) {
      if (err instanceof CfsError && err.kind === "unauthenticated") return undefined;
      throw err;
    }
  }

  close(): void {
    this.client.close();
  }
}
