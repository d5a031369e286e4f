"""Property tests over every query parameter and header the API parses: any input is either accepted
or refused with a 400 problem, never an exception that would become a 500 (issue 8, B1 and B2)."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frame.problems import Problem
from webhooks.routes import MAX_LIMIT, parse_delivery, parse_event_query
from webhooks.store import utc_timestamp

ANY_TEXT = st.text(max_size=40)
# Digits from every script, signs and spaces: what str.isdigit() and int() disagree about.
DIGITISH = st.text(alphabet=st.sampled_from("0123456789²³¹①٣۳\u0966\uff11+- _."), min_size=1, max_size=5)
OFFSETS = st.integers(min_value=-(14 * 60), max_value=14 * 60).map(
    lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
)


def status_of(call: Callable[[], object]) -> int:
    """200 when the input is accepted; the problem's status when it is refused (any other error escapes)."""
    try:
        call()
    except Problem as problem:
        return problem.status
    return 200


def refused_with_400(call: Callable[[], object]) -> None:
    assert status_of(call) in (200, 400)


@given(DIGITISH)
def test_limit_is_ascii_digits_in_range_or_a_400(raw: str) -> None:
    status = status_of(lambda: parse_event_query("github", {"limit": raw}))
    assert status in (200, 400)
    if status == 200:
        _, limit, _ = parse_event_query("github", {"limit": raw})
        assert raw.isascii()
        assert 1 <= limit <= MAX_LIMIT
        assert int(raw) == limit


@pytest.mark.parametrize("raw", ["²", "٣", "\uff11", "+5", " 5", "5 ", "0", "201", "1e2"])
def test_limits_that_are_not_plain_numbers_in_range_are_refused(raw: str) -> None:
    with pytest.raises(Problem) as refused:
        parse_event_query("github", {"limit": raw})
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("name", "raw"),
    [("since", "9999-12-31T23:59:59-14:00"), ("until", "0001-01-01T00:00:00+14:00")],
)
def test_instants_past_the_representable_range_are_a_400(name: str, raw: str) -> None:
    with pytest.raises(Problem) as refused:
        parse_event_query("github", {name: raw})
    assert refused.value.status == 400


@given(st.datetimes(timezones=OFFSETS), st.sampled_from(["since", "until"]))
def test_any_aware_instant_is_accepted_or_a_400(moment: datetime.datetime, name: str) -> None:
    refused_with_400(lambda: parse_event_query("github", {name: moment.isoformat()}))


@given(st.dictionaries(st.sampled_from(["type", "since", "until", "limit", "continuation", "x"]), ANY_TEXT))
def test_any_query_is_accepted_or_a_400(params: dict[str, str]) -> None:
    refused_with_400(lambda: parse_event_query("github", params))


@given(
    st.dictionaries(
        st.sampled_from(["X-GitHub-Delivery", "X-Event-Id", "X-GitHub-Event", "X-Event-Type", "Content-Type"]),
        ANY_TEXT,
    ),
    st.binary(max_size=64),
)
def test_any_delivery_headers_are_accepted_or_a_400(headers: dict[str, str], body: bytes) -> None:
    refused_with_400(lambda: parse_delivery("github", headers, body))


@given(st.text(max_size=60))
def test_the_stored_content_type_is_a_well_formed_ascii_media_type(raw: str) -> None:
    content_type = parse_delivery("github", {"Content-Type": raw}, b"{}").content_type
    assert content_type in (raw, "application/octet-stream")
    assert content_type.isascii()
    assert content_type.isprintable()
    assert "/" in content_type.split(";")[0]


@given(st.datetimes(timezones=OFFSETS), st.datetimes(timezones=OFFSETS))
def test_timestamp_strings_sort_as_the_instants_do(a: datetime.datetime, b: datetime.datetime) -> None:
    try:
        sa, sb = utc_timestamp(a), utc_timestamp(b)
    except OverflowError:
        return  # past the representable UTC range: the query parser answers 400 for these
    assert (sa < sb) == (a < b)
    assert len(sa) == len(sb)
