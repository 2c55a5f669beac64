"""One audit trail: every operator action from every door (admin, API, command line).

`services.audit_record` writes one AuditEvent per action; `core.actors` builds the actor
string every door passes. The read-only views (admin list, `GET /api/v1/audit`) live in metrics.
"""
