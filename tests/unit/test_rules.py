"""Coaching rules: what buzzes, how hard, and when the cooldown holds it back."""

from datetime import UTC, datetime

import pytest

from services.feedback.rules import evaluate, findings, speech_since_last_feedback
from services.session.models import HapticCue, Mode, Segment


def seg(seq: int = 1, *, wpm: float = 130, db: float = 62, pitch: float = 150,
        fillers: int = 0, ms: int = 5000, feedback: HapticCue | None = None) -> Segment:
    return Segment(segment_id=f"{seq:032x}", session_id="a" * 32, seq=seq, text="",
                   duration_ms=ms, words_per_minute=wpm, volume_db=db, pitch_hz=pitch,
                   filler_words=fillers, created_at=datetime.now(UTC), feedback=feedback)


@pytest.mark.parametrize(("mode", "wpm", "rule"), [
    (Mode.presentation, 200, "pace_too_fast"),
    (Mode.presentation, 90, "pace_too_slow"),
    (Mode.interview, 155, "pace_too_fast"),
    (Mode.dating, 155, None),
])
def test_pace_limits_depend_on_mode(mode: Mode, wpm: float, rule: str | None) -> None:
    fired = [f.rule for f in findings(mode, seg(wpm=wpm), [])]
    assert fired == ([rule] if rule else [])


def test_volume_and_fillers() -> None:
    assert [f.pattern for f in findings(Mode.interview, seg(db=40), [])] == ["speak_up"]
    assert [f.pattern for f in findings(Mode.interview, seg(db=90), [])] == ["lower_volume"]
    # 3 fillers in 30 s = 6/min, above interview's 3/min
    assert [f.pattern for f in findings(Mode.interview, seg(fillers=3, ms=30_000), [])] == [
        "filler_alert"]


def test_monotone_needs_history() -> None:
    flat = [seg(i, pitch=150) for i in range(1, 3)]
    assert findings(Mode.presentation, seg(3, pitch=151), flat[:1]) == []
    assert [f.rule for f in findings(Mode.presentation, seg(3, pitch=151), flat)] == [
        "monotone_pitch"]
    varied = [seg(1, pitch=110), seg(2, pitch=190)]
    assert findings(Mode.presentation, seg(3, pitch=150), varied) == []


def test_most_severe_finding_wins() -> None:
    result = evaluate(Mode.presentation, seg(wpm=260, db=50), [])
    assert result.feedback is not None
    assert result.feedback.pattern == "slow_down" and result.feedback.intensity == 3
    assert set(result.rules_fired) == {"pace_too_fast", "too_quiet"}


def test_cooldown_counts_speech_time_since_last_buzz() -> None:
    buzzed = HapticCue(pattern="slow_down", intensity=1, reason="x")
    history = [seg(1, feedback=buzzed), seg(2, ms=3000)]
    assert speech_since_last_feedback(history) == 3000
    assert speech_since_last_feedback([seg(1)]) is None

    held = evaluate(Mode.presentation, seg(3, wpm=200), history)
    assert held.feedback is None and held.cooldown_active and held.rules_fired

    later = [seg(1, feedback=buzzed), seg(2, ms=9000)]
    assert evaluate(Mode.presentation, seg(3, wpm=200), later).feedback is not None


def test_rules_span_records_the_decision(spans) -> None:
    evaluate(Mode.presentation, seg(wpm=200), [])
    (span,) = [s for s in spans.get_finished_spans() if s.name == "evaluate feedback rules"]
    assert span.attributes["haptitalk.rules_fired"] == ("pace_too_fast",)
    assert span.attributes["haptitalk.feedback.pattern"] == "slow_down"
    assert span.attributes["haptitalk.cooldown_active"] is False


def test_rules_span_records_exceptions(spans) -> None:
    with pytest.raises(KeyError):
        evaluate("karaoke", seg(), [])  # type: ignore[arg-type]
    (span,) = [s for s in spans.get_finished_spans() if s.name == "evaluate feedback rules"]
    # What `with tracer.start_as_current_span(...)` does by itself on the way out: the
    # exception as an event, the ERROR status (red in Jaeger) naming it, the span ended.
    assert span.status.status_code.name == "ERROR"
    assert span.status.description.startswith("KeyError")
    assert [(e.name, e.attributes["exception.type"]) for e in span.events] == [
        ("exception", "KeyError")]
