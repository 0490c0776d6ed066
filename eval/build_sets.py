#!/usr/bin/env python3
"""Build kura's labelled retrieval-evaluation sets from public documentation.

Two question sets are produced, each question labelled with the page that
answers it and a short verbatim passage of that answer:

* ``python-faq-en.jsonl`` (English): the Python FAQ as shipped in the Debian
  package ``python3.11-doc`` (HTML under
  ``/usr/share/doc/python3.11/html/faq/``). The Python documentation is
  Copyright (c) Python Software Foundation and distributed under the PSF
  licence (Python Software Foundation License Version 2).
* ``debian-handbook-ja.jsonl`` (Japanese): the Japanese translation of
  "The Debian Administrator's Handbook" (Raphaël Hertzog and Roland Mas) as
  shipped in the Debian package ``debian-handbook`` (HTML under
  ``/usr/share/doc/debian-handbook/html/ja-JP/``). The handbook is dual
  licensed under GPL-2+ and CC-BY-SA-3.0.

The questions were written by hand in our own words (they deliberately avoid
the wording of the headings they come from). Only the questions, page names
and short snippets live here; the documents themselves are not copied.

Each JSONL line looks like::

    {"id": "pyfaq-001", "question": "...", "expected_source": "library.html",
     "expected_snippet": "...", "language": "en"}

``expected_source`` is a file name to be matched as a path suffix of the
retrieved document; ``expected_snippet`` is a 10-60 character substring of
the answer body which a retrieved passage must contain (compare after
NFKC-normalising and collapsing whitespace to single spaces on both sides).

Before writing, the script checks every snippet against the installed HTML:
it extracts the text of each block element (paragraph, list item, ...) with
the standard library's ``html.parser``, NFKC-normalises it and collapses
whitespace, and requires the snippet to occur inside one non-heading block of
its page. It exits with status 1 naming every snippet that fails. A snippet
that also occurs in another page of the same folder is reported as a warning.

Run it (standard library only, any Python 3.9+)::

    apt-get install -y python3.11-doc debian-handbook
    python3 eval/build_sets.py            # verify, then write eval/*.jsonl
    python3 eval/build_sets.py --check    # verify only, write nothing

``--faq-dir``, ``--handbook-dir`` and ``--out-dir`` override the default
locations.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

FAQ_DIR = Path("/usr/share/doc/python3.11/html/faq")
HANDBOOK_DIR = Path("/usr/share/doc/debian-handbook/html/ja-JP")
OUT_DIR = Path(__file__).resolve().parent

# (question, page, snippet). Snippets are copied verbatim from the answer body.
PYTHON_FAQ: list[tuple[str, str, str]] = [
    # general.html
    (
        "Which non-profit body owns the copyright on modern releases of the language?",
        "general.html",
        "independent non-profit organization that holds the copyright",
    ),
    (
        "Where does the language get its name from?",
        "general.html",
        "a BBC comedy series from the 1970s",
    ),
    (
        "In a release number such as 3.11.4, what does each of the three parts stand for?",
        "general.html",
        "A is the major version number",
    ),
    (
        "How often does a new feature release of the language come out nowadays?",
        "general.html",
        "Python will have a major new release every 12 months",
    ),
    (
        "Where should I file a defect I found in CPython itself?",
        "general.html",
        "issue tracker at https://github.com/python/cpython/issues",
    ),
    # programming.html
    (
        "Which standard library module lets me step through my code line by line in a terminal?",
        "programming.html",
        "pdb module is a simple but adequate console-mode debugger",
    ),
    (
        "What linters can catch mistakes in my code before I run it?",
        "programming.html",
        "Pylint and Pyflakes do basic checking",
    ),
    (
        "When is a name used inside a def treated as belonging to the module rather than the function?",
        "programming.html",
        "only referenced inside a function are implicitly global",
    ),
    (
        "How can I duplicate an object, including everything nested inside it?",
        "programming.html",
        "try copy.copy() or copy.deepcopy() for the general case",
    ),
    (
        "How do I write an inline if/else that evaluates to one of two values?",
        "programming.html",
        "[on_true] if [expression] else [on_false]",
    ),
    (
        "What does a bare / among a function's declared arguments signify?",
        "programming.html",
        "the parameters prior to it are positional-only",
    ),
    (
        "How do I write a base-8 number literal in source code?",
        "programming.html",
        "precede the octal value with a zero",
    ),
    (
        "Why does floor division of a negative number round away from zero?",
        "programming.html",
        "the desire that i % j have the same sign as j",
    ),
    (
        "How do I turn the text '144' into an integer value?",
        "programming.html",
        "use the built-in int() type constructor",
    ),
    (
        "How do I loop through a list backwards without modifying it?",
        "programming.html",
        "Use the reversed() built-in function",
    ),
    (
        "How can I test whether a value is of a certain type or derives from it?",
        "programming.html",
        "Use the built-in function isinstance(obj, cls)",
    ),
    (
        "How does an overriding method invoke the parent's version of itself?",
        "programming.html",
        "Use the built-in super() function",
    ),
    (
        "Why can two different objects report the same identity number?",
        "programming.html",
        "guaranteed to be unique during the lifetime of the object",
    ),
    (
        "Which tools can memoise the results of instance methods?",
        "programming.html",
        "functools.cached_property() and functools.lru_cache()",
    ),
    (
        "Where does the interpreter store compiled bytecode after importing a module?",
        "programming.html",
        "in a __pycache__ subdirectory of the directory containing",
    ),
    (
        "Why doesn't running import again pick up the edits I just saved to a module?",
        "programming.html",
        "only reads the module file on the first time a module is",
    ),
    # design.html
    (
        "Why does 1.2 - 1.0 not give exactly 0.2?",
        "design.html",
        "how the underlying platform handles floating-point numbers",
    ),
    (
        "Can I bind a variable inside the condition of a while loop?",
        "design.html",
        "Assignment expressions using the walrus operator",
    ),
    (
        "What data structure sits behind the built-in dict type?",
        "design.html",
        "implemented as resizable hash tables",
    ),
    (
        "Is the built-in sequence type a linked structure or a contiguous array under the hood?",
        "design.html",
        "really variable-length arrays, not Lisp-style linked lists",
    ),
    (
        "Why does ordering a list in place hand back None rather than the ordered items?",
        "design.html",
        "sorts the list in place",
    ),
    (
        "Is a try/except block costly when no error actually happens?",
        "design.html",
        "extremely efficient if no exceptions are raised",
    ),
    # library.html
    (
        "What do I need so that ./myscript.py runs directly from a Linux shell?",
        "library.html",
        "the first line must begin with #! followed by the path",
    ),
    (
        "How do I register a function to run when the interpreter shuts down?",
        "library.html",
        "The atexit module provides a register function",
    ),
    (
        "Which unit testing frameworks ship with the standard library?",
        "library.html",
        "Python comes with two testing frameworks",
    ),
    (
        "My background workers never do anything before the program ends; what's happening?",
        "library.html",
        "As soon as the main thread exits, all threads are killed",
    ),
    (
        "Which function removes a file from disk?",
        "library.html",
        "Use os.remove(filename) or os.unlink(filename)",
    ),
    (
        "Which module lets me duplicate a file on disk?",
        "library.html",
        "The shutil module contains a copyfile() function",
    ),
    (
        "Which standard module lets a script deliver an email message?",
        "library.html",
        "Use the standard library module smtplib",
    ),
    (
        "What's the simplest way to hand many jobs to a fixed set of background threads?",
        "library.html",
        "especially the ThreadPoolExecutor class",
    ),
    # extending.html
    (
        "What is the simplest C API call to run a string of Python code from an embedding program?",
        "extending.html",
        "PyRun_SimpleString() which takes a single string argument",
    ),
    (
        "How do I build a tuple with a variable number of items from C code?",
        "extending.html",
        "Use PyTuple_Pack() instead",
    ),
    # windows.html
    (
        "On Windows, how can a console program see whether a key was hit without stopping to wait?",
        "windows.html",
        "Use the msvcrt module",
    ),
    (
        "How many spaces per indentation level does the official style guide recommend?",
        "windows.html",
        "recommends 4 spaces for distributed Python code",
    ),
    # gui.html
    (
        "Which windowing library comes bundled with standard builds of the language?",
        "gui.html",
        "interface to the Tcl/Tk widget set, called tkinter",
    ),
    # installed.html
    (
        "I found the interpreter on my PC but never installed it; is it safe to uninstall?",
        "installed.html",
        "you can remove it without hurting anything",
    ),
]

DEBIAN_HANDBOOK_JA: list[tuple[str, str, str]] = [
    # sect.filesystem-hierarchy.html
    (
        "/tmp に置いたファイルは再起動すると消えますか？",
        "sect.filesystem-hierarchy.html",
        "このディレクトリの内容は起動時に削除されます",
    ),
    (
        "市販のソフトなど、外部ベンダーのアプリはどのディレクトリに入れるのが決まりですか？",
        "sect.filesystem-hierarchy.html",
        "これはサードパーティが提供する追加アプリケーションを格納する",
    ),
    # sect.syslog.html
    (
        "カーネルやアプリのログを集めてファイルに振り分けているデーモンと、その設定ファイルを教えて",
        "sect.syslog.html",
        "rsyslogd デーモンは /etc/rsyslog.conf ファイルの設定に従います",
    ),
    (
        "別のサーバから送られてくるログを受信できるようにするにはどうすればいい？",
        "sect.syslog.html",
        "$ModLoad imudp と $UDPServerRun 514",
    ),
    # sect.creating-accounts.html
    (
        "新しく作ったユーザのホームディレクトリに最初から入っているファイルはどこからコピーされるの？",
        "sect.creating-accounts.html",
        "/etc/skel/ テンプレートの内容がユーザのホームディレクトリにコピーされます",
    ),
    (
        "一般ユーザにサウンドデバイスを使わせたいとき、どのグループに追加すればいいですか？",
        "sect.creating-accounts.html",
        "audio グループに属するユーザは音声デバイスにアクセスできます",
    ),
    # sect.quotas.html
    (
        "ユーザごとにディスクの使用量を制限したい。/etc/fstab にはどんなオプションを書けばいい？",
        "sect.quotas.html",
        "usrquota (ユーザ用クォータ) および grpquota (グループ用クォータ) オプション",
    ),
    (
        "ソフトリミットを超えたままでいられる猶予期間はどうやって設定しますか？",
        "sect.quotas.html",
        "edquota -t コマンドを使えば",
    ),
    # sect.hostname-name-service.html
    (
        "このサーバのマシン名はどのファイルで設定されているの？",
        "sect.hostname-name-service.html",
        "この名前は /etc/hostname ファイルに保存され",
    ),
    (
        "マシン名をアドレスに引くとき、/etc/hosts と DNS はどちらが先に見られる？",
        "sect.hostname-name-service.html",
        "最初に /etc/hosts ファイルを、次に DNS サーバを参照する",
    ),
    (
        "何台くらいのネットワークになったら DNS サーバを立てたほうがいいですか？",
        "sect.hostname-name-service.html",
        "5 台以上のマシンで構成されるネットワークでは",
    ),
    # sect.backup.html
    (
        "dirvish で保存先や保存期間のデフォルトを指定するメインの設定ファイルはどれ？",
        "sect.backup.html",
        "主要な設定は /etc/dirvish/master.conf ファイルに書かれています",
    ),
    (
        "tar というコマンド名は何の略ですか？",
        "sect.backup.html",
        "tar コマンドは「Tape ARchive」から命名されています",
    ),
    # sect.automatic-upgrades.html
    (
        "アップグレードを無人で回したい。確認の質問にすべて yes と答えさせるオプションは？",
        "sect.automatic-upgrades.html",
        "-y オプション (または --assume-yes) を使えば",
    ),
    # sect.asynchronous-task-scheduling-anacron.html
    (
        "夜は電源を切っている PC で、深夜に予定された定期ジョブを取りこぼさないようにするには？",
        "sect.asynchronous-task-scheduling-anacron.html",
        "常に起動されていないコンピュータの cron を完成させるもの",
    ),
    (
        "nice を数値なしで付けてコマンドを起動したら、niceness はいくつ上がる？",
        "sect.asynchronous-task-scheduling-anacron.html",
        "nice は現在の優先度を正方向に 10 だけ増加します",
    ),
    # sect.task-scheduling-cron-atd.html
    (
        "ユーザごとの crontab は実際にはどこに保存されていますか？",
        "sect.task-scheduling-cron-atd.html",
        "/var/spool/cron/crontabs/user ファイルに保存されます",
    ),
    (
        "定期実行の指定で @weekly を使うと、何曜日の何時に動きますか？",
        "sect.task-scheduling-cron-atd.html",
        "1 週間に 1 回 (日曜日の 00:00)",
    ),
    (
        "一回だけ実行するよう予約したジョブをキャンセルしたい。どのコマンドを使う？",
        "sect.task-scheduling-cron-atd.html",
        "atrm task-number を実行してください",
    ),
    # sect.user-group-databases.html
    (
        "/etc/passwd を手で書き換えたい。同時に誰かが触っても壊れないようにロックしてくれるコマンドは？",
        "sect.user-group-databases.html",
        "/etc/passwd ファイルを編集する際に vipw コマンドを使ったり",
    ),
    (
        "あるユーザのパスワードを今すぐ期限切れにして、次のログインで新しいものを設定させたい",
        "sect.user-group-databases.html",
        "passwd -e user コマンドを使うと、パスワードを強制的に失効させることが可能です",
    ),
    # sect.release-lifecycle.html
    (
        "Debian の stable はどれくらいの期間サポートされて、何年おきに出ますか？",
        "sect.release-lifecycle.html",
        "各安定版リリースの寿命は約 5 年と予定されており",
    ),
    (
        "古いリリースのセキュリティ対応を延長する Debian の長期サポートは、いつスタートしましたか？",
        "sect.release-lifecycle.html",
        "Debian LTS プロジェクトは 2014 年 6 月に始まりました",
    ),
    # sect.foundation-documents.html
    (
        "GPL や BSD ライセンスの全文は Debian のどのディレクトリで読めますか？",
        "sect.foundation-documents.html",
        "/usr/share/common-licenses/ に置かれています",
    ),
    (
        "Debian 社会契約の「100% フリー」の条文が、文書なども含む形に改められたのはいつ？",
        "sect.foundation-documents.html",
        "2004 年 4 月にバージョン 1.1 を批准したことに伴い",
    ),
    # sect.network-config.html
    (
        "無線 LAN カードのドライバが必要とする非自由なバイナリを、自動で判別してインストールしてくれるコマンドは？",
        "sect.network-config.html",
        "isenkram-autoinstall-firmware コマンドを実行してください",
    ),
    (
        "ダイヤルアップでつないだ回線を切断するコマンドは？",
        "sect.network-config.html",
        "リンクを切断するには poff コマンドを使ってください",
    ),
    # sect.hotplug.html
    (
        "USB メモリにいつも同じデバイス名を付けたい。デバイス命名ルールを書くファイルはどのディレクトリに置く？",
        "sect.hotplug.html",
        "/etc/udev/rules.d/ と /lib/udev/rules.d/ に含まれるすべてのルール",
    ),
    # sect.rights-management.html
    (
        "chmod の数字指定で、読み・書き・実行はそれぞれいくつ？",
        "sect.rights-management.html",
        "読み込みは 4、書き込みは 2、実行権限は 1 で表現します",
    ),
    # sect.shell-environment.html
    (
        "bash を対話的に使うときに読み込まれるシステム全体の設定ファイルはどれ？",
        "sect.shell-environment.html",
        "/etc/bash.bashrc 初期化スクリプトを使い",
    ),
]


def norm(text: str) -> str:
    """NFKC-normalise and collapse runs of whitespace to single spaces."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


_BLOCK_TAGS = {
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "br",
    "caption",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "ul",
}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "title"}
_VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
_SKIP = {"script", "style"}


class _BlockText(HTMLParser):
    """Collect the text of each block element as (is_heading, text) pairs.

    Headings are h1-h6 and any element whose class is "title" (DocBook sidebar
    and figure titles in the handbook); text inside script/style is dropped.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[bool, str]] = []
        self._buf: list[str] = []
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, heading, skip)
        self._skip = 0
        self._heading = 0

    def _flush(self) -> None:
        text = norm("".join(self._buf))
        self._buf = []
        if text:
            self.blocks.append((self._heading > 0, text))

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _VOID_TAGS:
            return
        classes = (dict(attrs).get("class") or "").split()
        heading = tag in _HEADING_TAGS or "title" in classes
        skip = tag in _SKIP
        self._stack.append((tag, heading, skip))
        self._heading += heading
        self._skip += skip

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag):
        if tag in _BLOCK_TAGS:
            self._flush()
        if not any(t == tag for t, _, _ in self._stack):
            return  # stray end tag
        while self._stack:
            t, heading, skip = self._stack.pop()
            self._heading -= heading
            self._skip -= skip
            if t == tag:
                break

    def handle_data(self, data):
        if not self._skip:
            self._buf.append(data)

    def close(self):
        super().close()
        self._flush()


_cache: dict[Path, list[tuple[bool, str]]] = {}


def page_blocks(path: Path) -> list[tuple[bool, str]]:
    if path not in _cache:
        parser = _BlockText()
        parser.feed(path.read_text(encoding="utf-8"))
        parser.close()
        _cache[path] = parser.blocks
    return _cache[path]


def verify(name: str, folder: Path, items, errors: list[str], warnings: list[str]) -> None:
    if not folder.is_dir():
        errors.append(
            f"{name}: document folder {folder} not found "
            "(apt-get install -y python3.11-doc debian-handbook)"
        )
        return
    pages = sorted(folder.glob("*.html"))
    seen_q: set[str] = set()
    for n, (question, page, snippet) in enumerate(items, 1):
        label = f"{name} #{n} ({page}: {snippet!r})"
        s = norm(snippet)
        if not 10 <= len(s) <= 60:
            errors.append(f"{label}: snippet is {len(s)} characters, not 10-60")
        if question in seen_q:
            errors.append(f"{label}: duplicate question")
        seen_q.add(question)
        path = folder / page
        if not path.is_file():
            errors.append(f"{label}: page {path} not found")
            continue
        blocks = page_blocks(path)
        body_hits = sum(text.count(s) for is_h, text in blocks if not is_h)
        head_hits = sum(text.count(s) for is_h, text in blocks if is_h)
        if body_hits == 0:
            where = " (only in a heading)" if head_hits else ""
            errors.append(f"{label}: snippet not found in the body text of {page}{where}")
            continue
        if body_hits > 1:
            warnings.append(f"{label}: snippet occurs {body_hits} times in {page}")
        others = [
            p.name for p in pages if p.name != page and any(s in text for _, text in page_blocks(p))
        ]
        if others:
            warnings.append(f"{label}: snippet also occurs in {', '.join(others)}")


def records(items, prefix: str, language: str) -> list[dict]:
    return [
        {
            "id": f"{prefix}-{n:03d}",
            "question": question,
            "expected_source": page,
            "expected_snippet": snippet,
            "language": language,
        }
        for n, (question, page, snippet) in enumerate(items, 1)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faq-dir", type=Path, default=FAQ_DIR)
    ap.add_argument("--handbook-dir", type=Path, default=HANDBOOK_DIR)
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    ap.add_argument("--check", action="store_true", help="verify only, write nothing")
    args = ap.parse_args(argv)

    errors: list[str] = []
    warnings: list[str] = []
    verify("python-faq-en", args.faq_dir, PYTHON_FAQ, errors, warnings)
    verify("debian-handbook-ja", args.handbook_dir, DEBIAN_HANDBOOK_JA, errors, warnings)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if errors:
        for e in errors:
            print(f"FAIL: {e}", file=sys.stderr)
        print(f"{len(errors)} snippet check(s) failed; nothing written.", file=sys.stderr)
        return 1

    sets = [
        ("python-faq-en.jsonl", records(PYTHON_FAQ, "pyfaq", "en")),
        ("debian-handbook-ja.jsonl", records(DEBIAN_HANDBOOK_JA, "dhb-ja", "ja")),
    ]
    for filename, rows in sets:
        if args.check:
            print(f"ok: {filename}: {len(rows)} questions verified")
        else:
            args.out_dir.mkdir(parents=True, exist_ok=True)
            write_jsonl(args.out_dir / filename, rows)
            print(f"wrote {args.out_dir / filename}: {len(rows)} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
