"""app.content.checks without a database."""
from __future__ import annotations

from datetime import date

import pytest

from app.content import checks
from app.content.checks import Content, Rule

TODAY = date(2026, 11, 24)


def run(body="", *rules, platform="weibo", link=None, labels=(), builtins=False):
    return [f.to_dict() for f in checks.run(rules, Content(platform, body, link=link, labels=tuple(labels)),
                                            builtins=builtins, today=TODAY)]


def banned(*terms, severity="block"):
    return Rule("r-banned", "banned_term", severity, terms=terms)


def make_id(first17: str) -> str:
    """An ID number with a correct ISO 7064 MOD 11-2 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def spans(findings):
    return [(f["span"]["start"], f["span"]["end"]) if f["span"] else None for f in findings]


class TestTerms:
    def test_cjk_substring_with_span(self):
        body = "这是内部消息"
        found = run(body, banned("内部"))
        assert spans(found) == [(2, 4)]
        assert found[0] | {"message": None} == {
            "rule_id": "r-banned", "kind": "banned_term", "severity": "block", "message": None,
            "span": {"start": 2, "end": 4}, "field": "body", "match": "内部"}
        assert body[2:4] == "内部"

    def test_every_occurrence_is_reported(self):
        body = "赌博不好，赌博违法。Gambling, GAMBLING!"
        found = run(body, banned("赌博", "gambling"))
        assert spans(found) == [(0, 2), (5, 7), (10, 18), (20, 28)]
        assert [f["match"] for f in found] == ["赌博", "赌博", "Gambling", "GAMBLING"]

    def test_ascii_boundaries(self):
        assert run("bad badge adverb", banned("ad")) == []
        assert spans(run("an ad, AD. (ad)", banned("ad"))) == [(3, 5), (7, 9), (12, 14)]
        # digits are word characters too; CJK and punctuation are boundaries
        assert run("ad1 1ad", banned("ad")) == []
        assert spans(run("看ad广告", banned("ad"))) == [(1, 3)]

    def test_term_not_starting_with_alnum_needs_no_left_boundary(self):
        assert spans(run("x#ad", banned("#ad"))) == [(1, 4)]
        assert run("#adidas", banned("#ad")) == []

    def test_casefold_fullwidth_and_zero_width_evasion(self):
        assert spans(run("STRASSE", banned("straße"))) == [(0, 7)]
        assert spans(run("ＣＯＮＦＩＤＥＮＴＩＡＬ", banned("confidential"))) == [(0, 12)]
        body = "内\u200b部资料"
        assert spans(run(body, banned("内部"))) == [(0, 3)]
        assert spans(run("internal\n  only", banned("internal only"))) == [(0, 15)]

    def test_contained_match_reported_once(self):
        found = run("这份内部资料", Rule("m", "internal_marker", "high", terms=("内部", "内部资料")))
        assert [(f["match"], f["span"]) for f in found] == [("内部资料", {"start": 2, "end": 6})]

    def test_link_is_matched_too(self):
        found = run("clean", banned("casino"), link="https://acme.com/Casino-night")
        assert found[0]["field"] == "link" and found[0]["span"] is None and found[0]["match"] == "Casino"

    def test_platform_filter(self):
        rule = Rule("r", "banned_term", "block", terms=("x",), platforms=("douyin",))
        assert run("x", rule, platform="weibo") == []
        assert len(run("x", rule, platform="douyin")) == 1

    def test_sensitive_term_raises_risk(self):
        found = run("我们的股价", Rule("s", "sensitive_term", "medium", terms=("股价",)))
        assert checks.risk(found) == "medium" and checks.blocking(found) == []


class TestDisclosure:
    def test_sponsored_without_disclosure(self):
        found = run("Try our new phone", labels=["Sponsored"], builtins=True)
        assert [(f["rule_id"], f["field"], f["span"], f["match"]) for f in found] == [
            ("builtin:required_disclosure", "labels", None, "Sponsored")]
        assert found[0]["severity"] == "block"

    @pytest.mark.parametrize("body", ["New phone #ad", "新手机 #广告", "新手机广告", "#Sponsored new phone",
                                      "新品 #赞助"])
    def test_disclosed(self, body):
        assert run(body, labels=["sponsored"], builtins=True) == []

    def test_lookalike_is_not_a_disclosure(self):
        assert len(run("Shop #adidas now", labels=["sponsored"], builtins=True)) == 1

    def test_unlabelled_needs_nothing(self):
        assert run("Try our new phone", labels=["campaign-x"], builtins=True) == []

    def test_configured_rule_adds_a_requirement(self):
        rule = Rule("d", "required_disclosure", "high", terms=("#partner",), label="partner")
        found = run("hello #ad", rule, labels=["partner", "sponsored"], builtins=True)
        assert [(f["rule_id"], f["severity"]) for f in found] == [("d", "high")]
        assert run("hello #partner", rule, labels=["partner"]) == []


class TestLinkAllowlist:
    rule = Rule("l", "link_allowlist", "block", terms=("acme.com", "ACME.cn."))

    @pytest.mark.parametrize("link", ["https://acme.com", "https://news.acme.com/a?b=1", "http://ACME.COM:8080/x",
                                      "https://shop.acme.cn/", "https://acme.com./x"])
    def test_allowed(self, link):
        assert run("hi", self.rule, link=link) == []

    @pytest.mark.parametrize("link", ["https://evilacme.com", "https://acme.com.evil.io/", "https://acme.com@evil.io",
                                      "https://evil.io/?u=acme.com", "https://192.168.0.1/"])
    def test_refused(self, link):
        found = run("hi", self.rule, link=link)
        assert [(f["field"], f["span"], f["match"]) for f in found] == [("link", None, link)]

    @pytest.mark.parametrize("link", ["javascript:alert(1)", "https://", "https://acme.com:99999/",
                                      "https://evil.io\\@acme.com", "ftp://acme.com/f"])
    def test_malformed(self, link):
        found = run("hi", self.rule, link=link)
        assert len(found) == 1 and "not a well-formed" in found[0]["message"]

    def test_urls_in_body_with_cjk_around(self):
        body = "详见https://evilacme.com/x了解更多，或 www.news.acme.com/y。"
        found = run(body, self.rule)
        assert [(f["match"], f["span"]) for f in found] == [("https://evilacme.com/x", {"start": 2, "end": 24})]

    def test_idn_and_odd_hosts(self):
        rule = Rule("l", "link_allowlist", "block", terms=("例子.中国", "acme.com"))
        assert run("hi", rule, link="https://例子.中国/x") == []
        assert run("hi", rule, link="https://a_b.acme.com/") == []
        # an IDN host written out in the body is not taken for something else: it is flagged
        found = run("看 https://坏.中国 吧", rule)
        assert [f["match"] for f in found] == ["https://"] and "well-formed" in found[0]["message"]

    def test_what_is_a_url(self):
        assert checks.find_urls("www. and www.acme.com. ok") == [(9, 21)]
        assert checks.find_urls("email@www.acme.com") == []

    def test_trailing_punctuation_is_not_part_of_the_url(self):
        assert checks.find_urls("see (https://evil.io/a).") == [(5, 22)]


class TestLength:
    def test_table(self):
        assert checks.PLATFORM_LIMITS["x"] == 280 and checks.PLATFORM_LIMITS["weibo"] == 2000
        assert checks.PLATFORM_LIMITS["douyin"] == 1000 and checks.PLATFORM_LIMITS["threads"] == 500

    def test_code_points_elsewhere(self):
        assert run("字" * 1000, platform="douyin", builtins=True) == []
        found = run("字" * 1003, platform="douyin", builtins=True)
        assert spans(found) == [(1000, 1003)] and found[0]["severity"] == "block"

    def test_x_weights(self):
        assert checks.x_length("a" * 10) == 10
        assert checks.x_length("中文") == 4
        assert checks.x_length("😀") == 2
        assert checks.x_length("\u2014\u201c\u2032") == 3  # dash, quote, prime: 1 each
        assert checks.x_length("👍🏽") == 2 and checks.x_length("👨\u200d👩\u200d👧") == 2
        assert checks.x_length("🇨🇳") == 2 and checks.x_length("❤️") == 2
        assert checks.x_length("go https://example.com/" + "p" * 100) == 3 + 23
        assert checks.x_length("看www.acme.com") == 2 + 23

    def test_x_cjk_limit_and_span(self):
        assert run("字" * 140, platform="x", builtins=True) == []
        body = "字" * 141
        found = run(body, platform="x", builtins=True)
        assert spans(found) == [(140, 141)] and "282" in found[0]["message"]

    def test_x_urls_count_23(self):
        body = "a" * 257 + " https://example.com/" + "x" * 300  # 257 + 1 + 23 = 281
        found = run(body, platform="x", builtins=True)
        assert spans(found) == [(258, len(body))]  # the URL is the unit that does not fit
        assert run("a" * 256 + " https://example.com/" + "x" * 300, platform="x", builtins=True) == []

    def test_x_link_takes_its_place(self):
        assert run("a" * 280, platform="x", builtins=True) == []
        found = run("a" * 280, platform="x", link="https://acme.com/p", builtins=True)
        assert spans(found) == [(256, 280)]

    def test_rule_tightens(self):
        rule = Rule("m", "max_length", "medium", max_length=100, platforms=("weibo",))
        found = run("a" * 150, rule, builtins=True)
        assert [(f["rule_id"], f["severity"], f["span"]) for f in found] == [("m", "medium", {"start": 100,
                                                                                              "end": 150})]
        assert run("a" * 150, rule, platform="x", builtins=False) == []


class TestPersonalData:
    pd = Rule("builtin:personal_data", "personal_data", "high")

    @pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x", make_id("44030519900307123"),
                                        make_id("31011520001231456")])
    def test_valid_id_numbers(self, number):
        assert checks.valid_cn_id(number, TODAY)
        found = run(f"身份证{number}。", self.pd)
        assert [(f["match"], f["span"]) for f in found] == [(number, {"start": 3, "end": 21})]

    def test_checksum(self):
        assert checks.valid_cn_id("11010519491231002X", TODAY)
        assert not checks.valid_cn_id("110105194912310021", TODAY)  # wrong check character
        assert not checks.valid_cn_id("110105194913310027", TODAY)  # month 13
        assert run("订单号 110105194912310021", self.pd) == []
        assert run("订单号 123456789012345678", self.pd) == []

    def test_birth_date_must_be_plausible(self):
        assert checks.valid_cn_id(make_id("11010520001231000"), TODAY)
        assert not checks.valid_cn_id(make_id("11010520991231000"), TODAY)  # born in the future
        assert not checks.valid_cn_id(make_id("11010518991231000"), TODAY)  # before 1900
        assert not checks.valid_cn_id(make_id("11010520010229000"), TODAY)  # no 29 February in 2001

    def test_phones(self):
        body = "电话13812345678，或 138-1234-5678，或 +86 138 1234 5678，或 +44 20 7946 0958"
        found = run(body, self.pd)
        assert [f["match"] for f in found] == ["13812345678", "138-1234-5678", "+86 138 1234 5678",
                                               "+44 20 7946 0958"]
        assert body[found[0]["span"]["start"]:found[0]["span"]["end"]] == "13812345678"

    def test_not_phones(self):
        assert run("订单 213812345678 与 1381234567 与 12345678901", self.pd) == []
        assert run("+123456", self.pd) == []  # too short

    def test_emails(self):
        found = run("联系 li.wei+pr@example.com.cn 或 https://user@acme.com/", self.pd)
        assert [f["match"] for f in found] == ["li.wei+pr@example.com.cn"]

    def test_categories(self):
        rule = Rule("ids", "personal_data", "block", terms=("id_number",))
        found = run("a@b.io 11010519491231002X 13812345678", rule)
        assert [f["match"] for f in found] == ["11010519491231002X"]


class TestBuiltinsAndRisk:
    def test_builtin_markers_and_personal_data(self):
        found = run("CONFIDENTIAL: 机密 plan, mail a@b.io", builtins=True)
        assert {(f["rule_id"], f["match"]) for f in found} == {
            ("builtin:internal_marker", "CONFIDENTIAL"), ("builtin:internal_marker", "机密"),
            ("builtin:personal_data", "a@b.io")}
        assert checks.risk(found) == "high" and checks.blocking(found) == []

    def test_risk_and_blocking(self):
        assert checks.risk([]) == "none"
        found = run("赌博 内部", banned("赌博"), Rule("i", "sensitive_term", "info", terms=("内部",)))
        assert checks.risk(found) == "info"
        assert [f["match"] for f in checks.blocking(found)] == ["赌博"]
        only_block = run("赌博", banned("赌博"))
        assert checks.risk(only_block) == "none" and len(checks.blocking(only_block)) == 1
        finding_objects = checks.run([banned("赌博")], Content("weibo", "赌博"), builtins=False)
        assert checks.blocking(finding_objects) == finding_objects

    def test_block_findings_come_first(self):
        found = run("内部 赌博", banned("赌博"), builtins=True)
        assert [f["severity"] for f in found] == ["block", "high"]

    def test_clean_post(self):
        assert run("新品发布会下周见！#新品", platform="weibo", builtins=True) == []
