from indexer.logsig import code_blocks, looks_like_log, mask_line, signature_tokens, templates

LINE_A = "2026-03-02 10:15:07,123 ERROR [http-nio-8080-exec-7] c.k.t.RepeatService - req=8f3a2c91 user=tanaka@example.com failed to expand rule id=4412 from 192.0.2.14 took 1532 ms"
LINE_B = "2025-11-20T01:02:03.999Z ERROR [http-nio-8443-exec-12] c.k.t.RepeatService - req=ab12cd34 user=suzuki@example.jp failed to expand rule id=9 from 198.51.100.7 took 12 ms"


def test_same_template_when_every_variable_differs():
    assert mask_line(LINE_A) == mask_line(LINE_B)
    assert "<ts>" in mask_line(LINE_A) and "<email>" in mask_line(LINE_A) and "<ip>" in mask_line(LINE_A)


def test_each_kind_of_variable_is_masked():
    line = "id 550e8400-e29b-41d4-a716-446655440000 at 0x7ffe12 in /tmp/upload_8812/x.bin from fe80:0:0:0:200:f8ff:fe21:67cf"
    assert mask_line(line) == "id <uuid> at <hex> in <path> from <ip>"
    assert mask_line("Sat, 02 Mar 2026 10:00:00 took 15 ms") == "<ts> <ts> took <num> ms"


def test_different_messages_have_different_signatures():
    other = "2026-03-02 10:15:07,123 ERROR [exec-7] c.k.t.MailService - SMTP connection refused by relay"
    assert signature_tokens(LINE_A)[0] != signature_tokens(other)[0]
    assert signature_tokens(LINE_A)[0] == signature_tokens(LINE_B)[0]


def test_short_lines_are_not_signatures():
    assert templates("ok\n\n42\n") == []


def test_looks_like_log():
    assert looks_like_log(LINE_A)
    assert looks_like_log("job 8812 took 15 ms\njob 8813 took 12 ms")
    assert not looks_like_log("my calendar is empty\nand mail is late")
    assert not looks_like_log("how do I fix the error in Gmail")
    assert looks_like_log("    at com.kasumi.Foo.bar(Foo.java:12)")
    assert not looks_like_log("カレンダーの予定が消える")
    assert not looks_like_log("approval stuck for substitute")


def test_code_blocks():
    text = "intro\n```text\nA line\nB line\n```\nmid\n~~~\nC\n~~~\n"
    assert code_blocks(text) == ["A line\nB line\n", "C\n"]
