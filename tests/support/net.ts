export { freePort, waitFor } from "../../dev/net.js";
