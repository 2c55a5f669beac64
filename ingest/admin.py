from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from core.actors import request_actor
from core.admin_utils import EstimatedCountPaginator, FastChangelistMixin, dry_run_confirmation
from core.permissions import user_can_operate
from core.stepup import destructive
from ingest import services
from ingest.models import Album, AlbumSource, Artist, DeadLetter, QualityTier, Track
from ingest.parsing import looks_like_isrc, looks_like_spotify_id
from ingest.quality import QUALITY_FILTERS, QUALITY_GOOD_MIN, tracks_reenrich
from ingest.selectors import track_has_features, tracks_matching
from spotify.breaker import circuit_breakers_reset_all

FEATURE_LABELS = [
    ("danceability", "Danceability", "{:.2f}"),
    ("energy", "Energy", "{:.2f}"),
    ("valence", "Valence", "{:.2f}"),
    ("acousticness", "Acousticness", "{:.2f}"),
    ("instrumentalness", "Instrumentalness", "{:.2f}"),
    ("liveness", "Liveness", "{:.2f}"),
    ("speechiness", "Speechiness", "{:.2f}"),
    ("loudness", "Loudness (dB)", "{:.1f}"),
    ("tempo", "Tempo (BPM)", "{:.0f}"),
    ("key", "Key", "{}"),
    ("mode", "Mode", "{}"),
    ("time_signature", "Time signature", "{}/4"),
]
PITCHES = ["C", "C♯/D♭", "D", "D♯/E♭", "E", "F", "F♯/G♭", "G", "G♯/A♭", "A", "A♯/B♭", "B"]


class ExactIdSearchMixin:
    """A pasted Spotify id is looked up through its unique index; other terms go to Django's
    search over the names (`search_fields` name no id, whose case-insensitive match no index serves)."""

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> tuple[QuerySet[Any], bool]:
        if looks_like_spotify_id(search_term.strip()):
            return queryset.filter(spotify_id=search_term.strip()), False
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]


class OperatorActionsMixin:
    def has_operate_permission(self, request: HttpRequest) -> bool:
        return user_can_operate(request.user)

    @admin.action(description="Reset all Spotify circuit breakers", permissions=["operate"])
    def reset_circuit_breakers(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = circuit_breakers_reset_all(actor=request_actor(request, door="admin"))
        self.message_user(  # type: ignore[attr-defined]
            request,
            ngettext("Circuit breakers reset (%d was not closed).", "Circuit breakers reset (%d were not closed).", count)
            % count,
            messages.SUCCESS,
        )


@admin.register(Artist)
class ArtistAdmin(ExactIdSearchMixin, admin.ModelAdmin):
    list_display = ["name", "spotify_id", "created_at"]
    search_fields = ["name"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Album)
class AlbumAdmin(ExactIdSearchMixin, admin.ModelAdmin):
    list_display = ["name", "artist", "release_date", "total_tracks", "label", "spotify_id"]
    list_select_related = ["artist"]
    search_fields = ["name", "artist__name"]
    raw_id_fields = ["artist"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ["created_at", "updated_at"]


class HasFeaturesFilter(admin.SimpleListFilter):
    title = "audio features"
    parameter_name = "features"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Fetched"), ("no", "Missing"), ("unavailable", "Spotify has none (null), retry later")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Track]) -> QuerySet[Track]:
        if self.value() == "yes":
            return queryset.filter(features_fetched_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(features_fetched_at__isnull=True)
        if self.value() == "unavailable":
            return queryset.filter(features_fetched_at__isnull=True, features_unavailable_until__gt=timezone.now())
        return queryset


class QualityFilter(admin.SimpleListFilter):
    title = "quality"
    parameter_name = "quality"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("low", f"Low quality (score < {QUALITY_GOOD_MIN})"),
            *[(tier.value, tier.label) for tier in QualityTier],
            ("unscored", "Not scored yet"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Track]) -> QuerySet[Track]:
        value = self.value()
        return queryset.filter(quality_tier__in=QUALITY_FILTERS[value]) if value in QUALITY_FILTERS else queryset


@admin.register(Track)
class TrackAdmin(FastChangelistMixin, OperatorActionsMixin, admin.ModelAdmin):
    list_display = ["name", "artist", "album", "isrc", "duration", "has_features", "features_brief", "quality"]
    list_select_related = ["artist", "album"]
    list_filter = [QualityFilter, HasFeaturesFilter, "explicit"]
    search_fields = ["name"]  # the search box: get_search_results
    raw_id_fields = ["artist", "album"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [
        "features_table",
        "features_fetched_at",
        "features_unavailable_until",
        "quality_score",
        "quality_tier",
        "quality_issues",
        "created_at",
        "updated_at",
    ]
    exclude = ["audio_features"]
    actions = ["reenrich"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Track], search_term: str
    ) -> tuple[QuerySet[Track], bool]:
        term = search_term.strip()
        if looks_like_spotify_id(term) or looks_like_isrc(term):
            return tracks_matching(queryset, term), False
        return super().get_search_results(request, queryset, search_term)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Track]:
        return super().get_queryset(request).annotate(has_features=track_has_features())

    @admin.display(description="Quality", ordering="quality_score")
    def quality(self, track: Track) -> str:
        if track.quality_score is None:
            return "—"
        issues = ", ".join(issue.replace("_", " ") for issue in track.quality_issues)
        return f"{track.quality_score} ({track.quality_tier})" + (f": {issues}" if issues else "")

    @admin.action(description="Re-enrich: fetch audio features again", permissions=["operate"])
    def reenrich(self, request: HttpRequest, queryset: QuerySet[Track]) -> None:
        from jobs.models import JobRun

        count, run = tracks_reenrich(
            track_ids=list(queryset.values_list("pk", flat=True)),
            actor=request_actor(request, door="admin"),
            trigger=JobRun.Trigger.ADMIN,
        )
        message = ngettext("%d track queued for re-enrichment.", "%d tracks queued for re-enrichment.", count) % count
        if run is not None:
            message += f" fetch_audio_features queued (task {run.task_id})."
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)

    @admin.display(description="Length", ordering="duration_ms")
    def duration(self, track: Track) -> str:
        seconds = track.duration_ms // 1000
        return f"{seconds // 60}:{seconds % 60:02d}"

    @admin.display(description="Features", boolean=True, ordering="features_fetched_at")
    def has_features(self, track: Track) -> bool:
        return bool(track.has_features)  # type: ignore[attr-defined]

    @admin.display(description="Energy / valence / tempo")
    def features_brief(self, track: Track) -> str:
        features = track.audio_features or {}
        if not features:
            return "—"
        return f"{features.get('energy', 0):.2f} / {features.get('valence', 0):.2f} / {features.get('tempo', 0):.0f} BPM"

    @admin.display(description="Audio features")
    def features_table(self, track: Track) -> str:
        features = track.audio_features or {}
        if not features:
            if track.features_unavailable_until:
                return f"Spotify has no features for this track; asking again after {track.features_unavailable_until:%Y-%m-%d %H:%M} UTC."
            return "Not fetched yet."
        rows = []
        for name, label, fmt in FEATURE_LABELS:
            if name not in features:
                continue
            value = features[name]
            if name == "key":
                text = PITCHES[value] if isinstance(value, int) and 0 <= value < 12 else "unknown"
            elif name == "mode":
                text = "major" if value == 1 else "minor"
            else:
                text = fmt.format(value)
            rows.append((label, text))
        return format_html(
            '<table style="min-width:20em">{}</table>', format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        )


class SubmitUrlsForm(forms.Form):
    urls = forms.CharField(
        label="Album links",
        error_messages={"required": "Paste at least one album link."},
        widget=forms.Textarea(attrs={"rows": 15, "cols": 90, "placeholder": "https://open.spotify.com/album/…\nspotify:album:…"}),
        help_text="One per line: open.spotify.com/album links, spotify:album URIs or 22-character album ids. Blank lines are skipped.",
    )

    def clean_urls(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["urls"].splitlines() if line.strip()]
        if not lines:
            raise forms.ValidationError("Paste at least one album link.")
        if len(lines) > settings.INGEST_SUBMIT_MAX:
            raise forms.ValidationError(
                f"{len(lines)} lines; at most {settings.INGEST_SUBMIT_MAX} per submission (use `manage.py ingest_urls FILE` for more)."
            )
        return lines


@admin.register(AlbumSource)
class AlbumSourceAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = [
        "short_input",
        "spotify_album_id",
        "status",
        "attempts",
        "error_short",
        "submitted_by",
        "album",
        "created_at",
        "finished_at",
    ]
    list_select_related = ["album"]
    list_filter = ["status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=spotify_album_id", "raw_input", "submitted_by"]
    raw_id_fields = ["album"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ["claimed_at", "created_at", "updated_at", "finished_at"]
    actions = ["requeue", "ingest_now", "reset_circuit_breakers"]

    @admin.display(description="Input")
    def short_input(self, source: AlbumSource) -> str:
        return source.raw_input if len(source.raw_input) <= 60 else source.raw_input[:57] + "…"

    @admin.display(description="Last error")
    def error_short(self, source: AlbumSource) -> str:
        return source.last_error[:120]

    def get_urls(self) -> list[Any]:
        return [
            path("submit/", self.admin_site.admin_view(self.submit_view), name="ingest_albumsource_submit"),
            path("run-now/", self.admin_site.admin_view(self.run_now_view), name="ingest_albumsource_run_now"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "can_operate": user_can_operate(request.user)})

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not user_can_operate(request.user):
            raise PermissionDenied
        self.ingest_now(request, self.get_queryset(request).none())
        return HttpResponseRedirect(reverse("admin:ingest_albumsource_changelist"))

    def submit_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SubmitUrlsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            lines = form.cleaned_data["urls"]
            results = services.album_sources_submit(raw_inputs=lines, submitted_by=request_actor(request, door="admin"))
            levels = {"accepted": messages.SUCCESS, "duplicate": messages.WARNING, "invalid": messages.ERROR}
            for number, result in enumerate(results, start=1):
                text = f"Line {number}: {result.input[:120]} — {result.status}"
                if result.album_id and result.status == "accepted":
                    text += f" (album {result.album_id})"
                if result.reason:
                    text += f": {result.reason}"
                self.message_user(request, text, levels[result.status])
            counts = {status: sum(1 for r in results if r.status == status) for status in levels}
            self.message_user(
                request,
                f"{counts['accepted']} queued, {counts['duplicate']} duplicate, {counts['invalid']} invalid.",
                messages.INFO,
            )
            return HttpResponseRedirect(reverse("admin:ingest_albumsource_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Submit album links",
            "form": form,
            "max_lines": settings.INGEST_SUBMIT_MAX,
        }
        return TemplateResponse(request, "admin/ingest/albumsource/submit_urls.html", context)

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)

    @admin.action(description="Requeue failed sources (fresh attempts)", permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[AlbumSource]) -> None:
        count = services.album_sources_requeue(
            source_ids=queryset.values_list("pk", flat=True), actor=request_actor(request, door="admin")
        )
        skipped = queryset.count() - count
        message = ngettext("%d source queued again.", "%d sources queued again.", count) % count
        if skipped:
            message += f" {skipped} skipped (only failed sources are requeued; invalid input must be resubmitted corrected)."
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)

    @admin.action(description="Run the ingest job now", permissions=["operate"])
    def ingest_now(self, request: HttpRequest, queryset: QuerySet[AlbumSource]) -> None:
        from jobs.models import JobRun
        from jobs.services import job_run_now

        run = job_run_now(
            name="ingest_albums_from_sources", actor=request_actor(request, door="admin"), trigger=JobRun.Trigger.ADMIN
        )
        self.message_user(request, f"Ingest queued (task {run.task_id}).", messages.SUCCESS)


@admin.register(DeadLetter)
class DeadLetterAdmin(FastChangelistMixin, OperatorActionsMixin, admin.ModelAdmin):
    list_display = [
        "source_service",
        "operation",
        "error_type",
        "occurrences",
        "retry_count",
        "status",
        "first_seen",
        "last_seen",
        "error_short",
    ]
    list_filter = ["status", "error_type", "source_service", "operation", ("last_seen", admin.DateFieldListFilter)]
    search_fields = ["error_message", "=correlation_id", "=fingerprint"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [f.name for f in DeadLetter._meta.fields]
    actions = ["replay", "purge", "reset_circuit_breakers"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        return False

    @admin.display(description="Error")
    def error_short(self, letter: DeadLetter) -> str:
        return letter.error_message[:120]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "can_operate": user_can_operate(request.user)})

    def get_urls(self) -> list[Any]:
        return [
            path(
                "reset-breakers/", self.admin_site.admin_view(self.reset_breakers_view), name="ingest_deadletter_reset_breakers"
            ),
            path("replay-oldest/", self.admin_site.admin_view(self.replay_oldest_view), name="ingest_deadletter_replay_oldest"),
            *super().get_urls(),
        ]

    def _operator_post(self, request: HttpRequest) -> None:
        if request.method != "POST" or not user_can_operate(request.user):
            raise PermissionDenied

    def reset_breakers_view(self, request: HttpRequest) -> HttpResponse:
        self._operator_post(request)
        self.reset_circuit_breakers(request, self.get_queryset(request).none())
        return HttpResponseRedirect(reverse("admin:ingest_deadletter_changelist"))

    def replay_oldest_view(self, request: HttpRequest) -> HttpResponse:
        self._operator_post(request)
        if request.POST.get("post") != "yes":
            return dry_run_confirmation(
                self,
                request,
                preview=services.dead_letters_replay_preview(batch_size=100),
                title="Replay the oldest dead letters?",
                lead="Replay the oldest 100 pending dead letters: each one's work goes back to its queue.",
                what="dead letters",
                submit_label="Yes, replay them",
            )
        result = services.dead_letters_replay(batch_size=100, actor=request_actor(request, door="admin"))
        self.message_user(
            request,
            f"{result['replayed_count']} replayed, {result['failed_count']} failed.",
            messages.SUCCESS if not result["failed_count"] else messages.WARNING,
        )
        for error in result["errors"]:
            self.message_user(
                request, f"Dead letter {error['id'] or ''} ({error['operation']}): {error['error']}", messages.ERROR
            )
        return HttpResponseRedirect(reverse("admin:ingest_deadletter_changelist"))

    @admin.action(description="Replay selected dead letters…", permissions=["operate"])
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> TemplateResponse | None:
        ids = list(queryset.values_list("pk", flat=True))
        if request.POST.get("post") != "yes":
            # The confirmation is the dry run: the letters it takes, and the Spotify calls of the work it puts back.
            return dry_run_confirmation(
                self,
                request,
                preview=services.dead_letters_replay_preview(batch_size=len(ids), ids=ids),
                title="Replay dead letters?",
                lead="Replay: each letter's work goes back to its queue, and the jobs that do it are queued.",
                what="dead letters",
                submit_label="Yes, replay them",
            )
        result = services.dead_letters_replay(batch_size=len(ids), ids=ids, actor=request_actor(request, door="admin"))
        replayed = result["replayed_count"]
        self.message_user(
            request, ngettext("%d dead letter replayed.", "%d dead letters replayed.", replayed) % replayed, messages.SUCCESS
        )
        skipped = len(ids) - replayed - result["failed_count"]
        if skipped > 0:
            self.message_user(
                request, f"{skipped} skipped: not pending (already replayed or purged) or no replay handler.", messages.WARNING
            )
        for error in result["errors"]:
            self.message_user(
                request, f"Dead letter {error['id'] or ''} ({error['operation']}): {error['error']}", messages.ERROR
            )
        return None

    @admin.action(description="Purge selected dead letters…", permissions=["operate"])
    @destructive
    def purge(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> TemplateResponse | None:
        pending = queryset.filter(status=DeadLetter.Status.PENDING)
        if request.POST.get("confirmed") == "yes":
            count = services.dead_letters_purge(
                ids=list(pending.values_list("pk", flat=True)), actor=request_actor(request, door="admin")
            )
            self.message_user(
                request, ngettext("%d dead letter purged.", "%d dead letters purged.", count) % count, messages.SUCCESS
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Purge dead letters?",
            "letters": pending[:100],
            "pending_count": pending.count(),
            "selected_ids": list(queryset.values_list("pk", flat=True)),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/ingest/deadletter/purge_confirmation.html", context)
