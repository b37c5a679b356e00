"""Coaching rules: which haptic pattern (if any) a segment earns, per conversation mode.

This is where the service's one manual span lives. Auto-instrumentation already shows
the HTTP calls; what it cannot show is the *decision*: which rules fired, whether the
cooldown held the buzz back, which pattern won. The span below is the original HaptiTalk
guide's (a span with attributes, the exception and an ERROR status on failure, always
ended) in its shortest correct form: `with tracer.start_as_current_span(...)` makes it
the parent of anything started inside, and on an exception records it as an event, sets
the ERROR status and ends the span before re-raising.
"""

import statistics
from dataclasses import dataclass

from opentelemetry import trace

from services.feedback.models import Evaluation
from services.session.models import HapticCue, Mode, Segment

tracer = trace.get_tracer("haptitalk.feedback")


@dataclass(frozen=True)
class ModeRules:
    pace_wpm: tuple[float, float]        # comfortable speaking pace
    volume_db: tuple[float, float]       # audible, not shouting
    max_fillers_per_minute: float        # "um", "uh", "like"...
    min_pitch_spread_hz: float           # below this over recent segments: monotone
    cooldown_ms: int                     # speech time between two buzzes


RULES: dict[Mode, ModeRules] = {
    Mode.presentation: ModeRules((110, 160), (55, 80), 4.0, 15.0, 8_000),
    Mode.interview: ModeRules((100, 150), (50, 75), 3.0, 10.0, 10_000),
    Mode.dating: ModeRules((90, 170), (45, 75), 6.0, 8.0, 12_000),
}

MONOTONE_MIN_SEGMENTS = 3


@dataclass(frozen=True)
class Finding:
    rule: str
    pattern: str
    severity: int  # 1..3, becomes the vibration intensity
    reason: str


def _severity(excess_ratio: float) -> int:
    """How far outside the range, as a share of the range's edge: 10% -> 1, 25% -> 2, 40% -> 3."""
    if excess_ratio >= 0.40:
        return 3
    if excess_ratio >= 0.25:
        return 2
    return 1


def findings(mode: Mode, segment: Segment, previous: list[Segment]) -> list[Finding]:
    rules = RULES[mode]
    found: list[Finding] = []

    lo, hi = rules.pace_wpm
    wpm = segment.words_per_minute
    if wpm > hi:
        found.append(Finding("pace_too_fast", "slow_down", _severity((wpm - hi) / hi),
                             f"{wpm:.0f} wpm is above {hi:.0f} for {mode}"))
    elif 0 < wpm < lo:
        found.append(Finding("pace_too_slow", "speed_up", _severity((lo - wpm) / lo),
                             f"{wpm:.0f} wpm is below {lo:.0f} for {mode}"))

    lo, hi = rules.volume_db
    vol = segment.volume_db
    if vol < lo:
        found.append(Finding("too_quiet", "speak_up", _severity((lo - vol) / lo * 4),
                             f"{vol:.0f} dB is quieter than {lo:.0f} dB"))
    elif vol > hi:
        found.append(Finding("too_loud", "lower_volume", _severity((vol - hi) / hi * 4),
                             f"{vol:.0f} dB is louder than {hi:.0f} dB"))

    minutes = segment.duration_ms / 60_000
    per_minute = segment.filler_words / minutes if minutes else 0.0
    if per_minute > rules.max_fillers_per_minute:
        limit = rules.max_fillers_per_minute
        found.append(Finding("filler_words", "filler_alert",
                             _severity((per_minute - limit) / limit / 2),
                             f"{per_minute:.1f} filler words per minute (limit {limit:g})"))

    voiced = [s.pitch_hz for s in [*previous, segment] if s.pitch_hz > 0]
    if len(voiced) >= MONOTONE_MIN_SEGMENTS:
        spread = statistics.pstdev(voiced[-(MONOTONE_MIN_SEGMENTS + 2):])
        if spread < rules.min_pitch_spread_hz:
            found.append(Finding("monotone_pitch", "vary_pitch", 1,
                                 f"pitch varied by only {spread:.1f} Hz over "
                                 f"{len(voiced)} segments"))
    return found


def speech_since_last_feedback(previous: list[Segment]) -> int | None:
    """Milliseconds of speech since the last buzz, or None if there was none yet."""
    spoken = 0
    for seg in reversed(previous):
        if seg.feedback is not None:
            return spoken
        spoken += seg.duration_ms
    return None


def evaluate(mode: Mode, segment: Segment, previous: list[Segment]) -> Evaluation:
    """Pick the most severe finding, unless the cooldown holds the buzz back."""
    with tracer.start_as_current_span("evaluate feedback rules") as span:
        span.set_attribute("haptitalk.mode", str(mode))
        span.set_attribute("haptitalk.segment.seq", segment.seq)
        span.set_attribute("haptitalk.history.segments", len(previous))

        found = findings(mode, segment, previous)
        fired = [f.rule for f in found]
        span.set_attribute("haptitalk.rules_fired", fired)

        since = speech_since_last_feedback(previous)
        cooldown = since is not None and since < RULES[mode].cooldown_ms
        span.set_attribute("haptitalk.cooldown_active", cooldown)

        feedback = None
        if found and not cooldown:
            # Most severe first; among equals, the order above (pace before volume...).
            best = max(found, key=lambda f: f.severity)
            feedback = HapticCue(pattern=best.pattern, intensity=best.severity,
                                 reason=best.reason)
            span.set_attribute("haptitalk.feedback.pattern", best.pattern)
            span.set_attribute("haptitalk.feedback.intensity", best.severity)
        return Evaluation(feedback=feedback, rules_fired=fired, cooldown_active=cooldown)
