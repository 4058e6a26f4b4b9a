// The Swagger UI page: the vendored bundle (loaded before this module) on the live schema.
const swagger = document.getElementById("swagger-ui");
if (swagger && window.SwaggerUIBundle) {
  window.SwaggerUIBundle({ url: swagger.dataset.schema, domNode: swagger, deepLinking: true });
}
