"""DRF's authtokens (plain keys) become ApiTokens with the same key, hashed; the plain table goes.

Automation keeps its key: the digest of an old key is what the new lookup computes. Migrated
tokens keep what they could do (scope `operate`: the user's groups still decide), never expire
and are named so the admin can find them to rotate. `rest_framework.authtoken` left
INSTALLED_APPS with this migration, so its table is read and dropped with plain SQL, and its
migration records go too (installing it again would create a fresh, empty table).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import migrations

LEGACY_TABLE = "authtoken_token"
MIGRATED_NAME = "migrated DRF authtoken"


def hash_legacy_tokens(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return  # a database that never had DRF's authtoken
    ApiToken = apps.get_model("opsconsole", "ApiToken")
    table = schema_editor.quote_name(LEGACY_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {table}")
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        ApiToken.objects.get_or_create(
            digest=hashlib.sha256(key.encode()).hexdigest(),
            defaults={
                "user_id": user_id,
                "name": MIGRATED_NAME,
                "scope": "operate",
                "prefix": key[:8],
                "created_at": created,
                "expires_at": None,
            },
        )
    schema_editor.execute(f"DROP TABLE {table} CASCADE")
    schema_editor.execute("DELETE FROM django_migrations WHERE app = 'authtoken'")


class Migration(migrations.Migration):
    dependencies = [("opsconsole", "0003_apitoken")]

    # No way back: the plain keys are gone, which is the point.
    operations = [migrations.RunPython(hash_legacy_tokens, migrations.RunPython.noop)]
