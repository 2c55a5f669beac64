"""Demo hook: queue album sources found in the (emulated) new releases."""

from __future__ import annotations

from ingest.services import album_sources_submit, catalog_app

NEW_RELEASES_PAGE = 50


def demo_queue_sources(*, count: int) -> int:
    """Queue up to `count` albums from Browse > New Releases; returns how many were accepted
    (0 on a second boot: they are duplicates by then)."""
    from accounts.services import spotify_client_for_catalog

    client = spotify_client_for_catalog(catalog_app())
    uris: list[str] = []
    offset = 0
    while len(uris) < count:
        page = client.new_releases(offset=offset, limit=NEW_RELEASES_PAGE)
        albums = page.get("albums", page)
        items = [a for a in albums.get("items") or [] if a and a.get("id")]
        uris.extend(f"spotify:album:{a['id']}" for a in items)
        offset += len(items)
        if not items or not albums.get("next"):
            break
    results = album_sources_submit(raw_inputs=uris[:count], submitted_by="demo")
    return sum(1 for r in results if r.status == "accepted")
