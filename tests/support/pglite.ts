export { startPglite } from "../../dev/pglite.js";
