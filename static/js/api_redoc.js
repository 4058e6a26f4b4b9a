// The ReDoc page: the vendored ReDoc module on the live schema, without telemetry.
import { init } from "../vendor/redoc/redoc.standalone.js";

const element = document.getElementById("redoc");
init(element.dataset.schema, { disableTelemetry: true, hideDownloadButton: true }, element);
