import { errorMessage, invalidArgument } from "./errors.js";

/**
 * A request message the generated code could not decode, e.g. an int64
 * beyond 2^53, which ts-proto refuses as a number. grpc-js answers a
 * deserializer that throws with INTERNAL; the mistake is the client's, so
 * the decoder returns this instead and the handler step answers
 * INVALID_ARGUMENT (`decoded`).
 */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/** The method's codec with a request decoder that never throws. */
export function tolerateUndecodable<C extends { requestDeserialize: (bytes: Buffer) => unknown }>(codec: C): C {
  return {
    ...codec,
    requestDeserialize: (bytes: Buffer) => {
      try {
        return codec.requestDeserialize(bytes);
      } catch (err) {
        return new UndecodableRequest(errorMessage(err));
      }
    },
  };
}

/** The message, or INVALID_ARGUMENT when it could not be decoded. */
export function decoded<T>(message: T | UndecodableRequest): T {
  if (message instanceof UndecodableRequest) throw invalidArgument(`the request message cannot be decoded: ${message.reason}`);
  return message;
}

/** Each message of a request stream, failing at the first that could not be decoded. */
export async function* decodedEach<T>(messages: AsyncIterable<T | UndecodableRequest>): AsyncGenerator<T> {
  for await (const message of messages) yield decoded(message);
}
