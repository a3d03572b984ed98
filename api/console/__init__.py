"""The web console for the legal department and auditors: server-rendered pages at /console.

Same services, roles and ownership rules as the API; the session cookie carries an access
token (so expiry and revocation work as for bearer tokens), CSRF is checked on every form.
"""
