// The API documentation at /schema: Swagger UI (static/vendor/swagger-ui), over this service's own
// OpenAPI document. Loaded as a module, so it runs after the deferred bundle has defined SwaggerUIBundle.
const root = document.getElementById("swagger-ui");

window.SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
  // No calls to validator.swagger.io: the document is checked here, not sent to a third party.
  validatorUrl: null,
});
