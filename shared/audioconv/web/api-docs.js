// Swagger UI for /api/openapi.json, from the files the server ships (no CDN).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    validatorUrl: null, // never send the document to an outside validator
    persistAuthorization: false,
  });
});
