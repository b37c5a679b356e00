"""The watch's in-memory cue log stays bounded under a long load (`make bench` posts
thousands of segments to one session) and still tells a redelivery from a new cue."""

from __future__ import annotations

import uuid

from services.session.models import HapticCue
from services.watch.models import CueMessage
from services.watch.store import MAX_CUES, MAX_CUES_PER_SESSION, CueLog

SID = uuid.uuid4().hex


def cue(seq: int, sid: str = SID) -> CueMessage:
    return CueMessage(session_id=sid, segment_id=f"{seq:032x}", seq=seq,
                      cue=HapticCue(pattern="pace", intensity=1, reason="fast"))


def test_a_session_keeps_its_latest_cues_only() -> None:
    log = CueLog()
    sent = MAX_CUES_PER_SESSION * 5
    assert all(log.deliver(cue(seq)) for seq in range(sent))
    kept = log.delivered(SID).cues
    assert [c.seq for c in kept] == list(range(sent - MAX_CUES_PER_SESSION, sent))
    # What it remembers for telling redeliveries apart is bounded the same way.
    assert len(log._sessions[SID].segment_ids) == MAX_CUES_PER_SESSION


def test_a_redelivery_among_the_kept_cues_is_not_delivered_twice() -> None:
    log = CueLog()
    for seq in range(MAX_CUES_PER_SESSION + 10):
        log.deliver(cue(seq))
    latest = MAX_CUES_PER_SESSION + 9
    assert log.deliver(cue(latest)) is False
    assert log.duplicates == 1
    assert [c.seq for c in log.delivered(SID).cues].count(latest) == 1


def test_many_sessions_keep_at_most_max_cues_the_oldest_sessions_forgotten() -> None:
    log = CueLog()
    sessions = [uuid.uuid4().hex for _ in range(MAX_CUES // 50 + 20)]
    for sid in sessions:
        for seq in range(50):
            log.deliver(cue(seq, sid))
    assert log.kept == sum(len(s.cues) for s in log._sessions.values()) <= MAX_CUES
    assert log.kept > MAX_CUES - 50
    assert log.delivered(sessions[0]).cues == []            # the oldest: forgotten
    assert len(log.delivered(sessions[-1]).cues) == 50     # the newest: whole
