"""The end-of-session report: what the user reads after a session."""

from collections import Counter
from statistics import fmean

from services.feedback.models import Assessment, Averages, Report
from services.feedback.rules import RULES
from services.session.models import SessionTranscript


def build_report(transcript: SessionTranscript, assessments: list[Assessment]) -> Report:
    session, segments = transcript.session, transcript.segments
    rules = RULES[session.mode]
    speech_ms = sum(s.duration_ms for s in segments)
    patterns = Counter(s.feedback.pattern for s in segments if s.feedback is not None)

    def avg(values: list[float]) -> float | None:
        return round(fmean(values), 1) if values else None

    fillers_per_minute = (
        round(sum(s.filler_words for s in segments) / (speech_ms / 60_000), 1)
        if speech_ms else None
    )
    averages = Averages(
        words_per_minute=avg([s.words_per_minute for s in segments]),
        volume_db=avg([s.volume_db for s in segments]),
        pitch_hz=avg([s.pitch_hz for s in segments if s.pitch_hz > 0]),
        filler_words_per_minute=fillers_per_minute,
    )

    highlights: list[str] = []
    if segments:
        lo, hi = rules.pace_wpm
        in_range = [s for s in segments if lo <= s.words_per_minute <= hi]
        highlights.append(
            f"{len(in_range)} of {len(segments)} segments at a comfortable pace "
            f"({lo:.0f}-{hi:.0f} wpm)"
        )
        if patterns:
            pattern, count = patterns.most_common(1)[0]
            highlights.append(f"most frequent cue: {pattern} ({count}x)")
        else:
            highlights.append("no haptic cue needed: well done")
        if fillers_per_minute is not None:
            verdict = "within" if fillers_per_minute <= rules.max_fillers_per_minute else "above"
            highlights.append(
                f"{fillers_per_minute} filler words per minute, {verdict} the "
                f"{rules.max_fillers_per_minute:g} target"
            )
        if assessments:
            best = max(assessments, key=lambda a: a.fluency)
            highlights.append(f"most fluent: segment {best.seq} (fluency {best.fluency:g})")
        if len(segments) >= 6:
            third = len(segments) // 3
            first = fmean(s.words_per_minute for s in segments[:third])
            last = fmean(s.words_per_minute for s in segments[-third:])
            highlights.append(f"pace moved from {first:.0f} to {last:.0f} wpm over the session")

    return Report(
        session_id=session.session_id,
        user_id=session.user_id,
        mode=session.mode.value,
        started_at=session.started_at.isoformat(),
        ended_at=session.ended_at.isoformat() if session.ended_at else None,
        segments=len(segments),
        speech_ms=speech_ms,
        feedback_given=sum(patterns.values()),
        feedback_by_pattern=dict(patterns),
        averages=averages,
        average_fluency=round(fmean(a.fluency for a in assessments), 1) if assessments else None,
        highlights=highlights,
    )
