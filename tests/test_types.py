"""The free-text rules of `app.types.Text`: single-line by default, `multiline=True` for bodies,
descriptions, comments and notes. No database: the types alone."""
from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from app.types import Text

SINGLE = TypeAdapter(Text(200, 1))
MULTI = TypeAdapter(Text(200, 1, multiline=True))


def refusal(adapter: TypeAdapter, value) -> dict:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    [error] = caught.value.errors()
    return error


# Every character class the rules refuse, with one example each end of the range.
C0 = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x0d", "\x1b", "\x1f"]
C1 = ["\x7f", "\x80", "\x85", "\x9b", "\x9f"]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
SEPARATORS = ["\u2028", "\u2029"]


class TestSingleLine:
    @pytest.mark.parametrize("value", [
        "Product recall, say nothing", "产品召回 #广告", "ＦＵＬＬ width",
        "family \U0001F468\u200d\U0001F469\u200d\U0001F467",
        "zero\u200bwidth", "\u05e9\u05dc\u05d5\u05dd \u200fmark", "a\\nb (a backslash and an n)", "\u00a0nbsp inside\u00a0x",
    ])
    def test_ordinary_text_is_kept(self, value):
        assert SINGLE.validate_python(value) == value.strip()

    def test_surrounding_spaces_are_still_stripped(self):
        assert SINGLE.validate_python("  padded  ") == "padded"

    @pytest.mark.parametrize("char", [*C0, "\n", "\t", *C1])
    def test_control_characters_are_refused(self, char):
        error = refusal(SINGLE, f"reason{char}tail")
        assert error["type"] == "control_character"
        assert f"U+{ord(char):04X}" in error["msg"] and "at position 6" in error["msg"], error["msg"]

    @pytest.mark.parametrize("char", BIDI)
    def test_bidi_overrides_and_isolates_are_refused(self, char):
        error = refusal(SINGLE, f"ab{char}cd")
        assert error["type"] == "bidi_control"
        assert f"U+{ord(char):04X}" in error["msg"] and "at position 2" in error["msg"], error["msg"]

    @pytest.mark.parametrize("char", SEPARATORS)
    def test_unicode_line_separators_are_refused(self, char):
        assert refusal(SINGLE, f"ab{char}cd")["type"] == "control_character"

    def test_the_message_names_the_character_and_its_position(self):
        error = refusal(SINGLE, "recall, stop\n2041  active  all clear")
        assert error["msg"] == "must not contain control characters (U+000A LF at position 12)"
        assert refusal(SINGLE, "ab\u202ecd")["msg"] == (
            "must not contain bidirectional formatting characters (U+202E RIGHT-TO-LEFT OVERRIDE at position 2)")
        assert "U+0000 NUL" in refusal(SINGLE, "\x00")["msg"]
        assert "U+0085 at position 0" in refusal(SINGLE, "\x85x")["msg"]

    def test_the_position_counts_in_the_value_as_sent(self):
        # Leading spaces are stripped later; the position still points into what the client sent.
        assert "at position 3" in refusal(SINGLE, "   \x1b[2J")["msg"]
        # Code points, not bytes nor UTF-16 units.
        assert "at position 2" in refusal(SINGLE, "\U0001F600\u6f22\n")["msg"]

    def test_the_first_offending_character_is_named(self):
        assert "U+0007 BEL at position 1" in refusal(SINGLE, "a\x07b\nc")["msg"]

    def test_a_trailing_newline_is_refused_not_stripped(self):
        assert refusal(SINGLE, "reason\n")["type"] == "control_character"

    def test_lengths_and_types_still_apply(self):
        assert refusal(SINGLE, "")["type"] == "string_too_short"
        assert refusal(SINGLE, "x" * 201)["type"] == "string_too_long"
        assert refusal(SINGLE, 5)["type"] == "string_type"
        assert refusal(SINGLE, None)["type"] == "string_type"

    def test_json_input_is_checked_too(self):
        with pytest.raises(ValidationError, match=r"U\+000A LF at position 1"):
            SINGLE.validate_json('"a\\nb"')


class TestMultiline:
    @pytest.mark.parametrize("value", [
        "First line\nsecond line", "col\tcol", "para\n\npara", "emoji \U0001F469\u200d\U0001F4BB\n#ad",
        "\u05e9\u05dc\u05d5\u05dd\u200f\n\u0645\u0631\u062d\u0628\u0627",
    ])
    def test_line_feeds_and_tabs_are_kept(self, value):
        assert MULTI.validate_python(value) == value

    def test_crlf_becomes_lf(self):
        assert MULTI.validate_python("one\r\ntwo\r\n\r\nthree") == "one\ntwo\n\nthree"

    def test_surrounding_whitespace_is_still_stripped(self):
        assert MULTI.validate_python("\n  body\t\n") == "body"

    def test_a_lone_carriage_return_is_refused(self):
        # "\r" alone moves a terminal's cursor back to the start of the line: the classic overwrite.
        error = refusal(MULTI, "shown\rhidden")
        assert error["type"] == "control_character"
        assert error["msg"] == ("must not contain control characters other than line feed and tab "
                                "(U+000D CR at position 5)")
        assert refusal(MULTI, "end\r")["type"] == "control_character"

    @pytest.mark.parametrize("char", [c for c in C0 if c != "\r"] + C1 + SEPARATORS)
    def test_other_control_characters_are_refused(self, char):
        error = refusal(MULTI, f"line\n{char}")
        assert error["type"] == "control_character"
        assert f"U+{ord(char):04X}" in error["msg"] and "at position 5" in error["msg"], error["msg"]

    @pytest.mark.parametrize("char", BIDI)
    def test_bidi_overrides_and_isolates_are_refused(self, char):
        assert refusal(MULTI, f"a\n{char}b")["type"] == "bidi_control"

    def test_the_position_counts_in_the_value_as_sent_before_crlf_is_folded(self):
        assert "at position 6" in refusal(MULTI, "a\r\nb\r\n\x1b")["msg"]

    def test_lengths_and_types_still_apply(self):
        assert refusal(MULTI, " \n ")["type"] == "string_too_short"
        assert refusal(MULTI, "x" * 201)["type"] == "string_too_long"
        assert refusal(MULTI, ["a"])["type"] == "string_type"
