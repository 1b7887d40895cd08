import { DOMParser, XMLSerializer, type Element as XmlElement } from "@xmldom/xmldom";
import { CfsError } from "#lib/errors.js";

export const DAV = "DAV:";
export type { XmlElement };

/** Text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

/** The root element of a request body, or a 400 for anything that is not well-formed XML. */
export function parseXml(text: string): XmlElement {
  let failure: string | undefined;
  const document = new DOMParser({
    onError: (level, message) => {
      if (level !== "warning") failure ??= message;
    },
  }).parseFromString(text, "application/xml");
  const root = document.documentElement;
  if (failure !== undefined || !root) throw new CfsError("invalid-argument", `the request body is not well-formed XML${failure ? `: ${failure}` : ""}`);
  return root;
}

/** The element children of a node. */
export function children(node: XmlElement): XmlElement[] {
  const out: XmlElement[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === 1) out.push(child as XmlElement);
  }
  return out;
}

export function isDav(node: XmlElement, localName: string): boolean {
  return node.namespaceURI === DAV && node.localName === localName;
}

export function child(node: XmlElement, localName: string): XmlElement | undefined {
  return children(node).find((c) => isDav(c, localName));
}

/** An element as XML text, with the namespace declarations it needs. */
export function serialize(node: XmlElement): string {
  return new XMLSerializer().serializeToString(node);
}

/** A property's qualified name, as the key of maps of properties. */
export function propertyKey(namespace: string, name: string): string {
  return `{${namespace}}${name}`;
}

/** `<name xmlns="ns">` for an empty property element in answers (no prefix needed). */
export function emptyElement(namespace: string, name: string): string {
  return namespace === DAV ? `<D:${name}/>` : `<${name} xmlns="${escapeXml(namespace)}"/>`;
}
