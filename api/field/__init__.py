"""The collector's app: an offline-first Progressive Web App at /field.

Flask serves only files here: the page, the web app manifest, the service worker (at
/field/sw.js, so its scope is /field/) and plain ES modules. The app talks to the public
HTTP API like any other client; nothing in this package touches a service or the database.
"""
