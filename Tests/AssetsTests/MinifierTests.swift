import Foundation
import TestSupport
import Testing
@testable import Assets

@Suite struct JSMinifierTests {
    static func min(_ s: String) -> String {
        guard case .minified(let b) = JSMinifier.minify(Array(s.utf8)) else { return "UNCHANGED" }
        return String(decoding: b, as: UTF8.self)
    }

    @Test(arguments: [
        ("var a = 1 ;  // comment\nvar b = 2", "var a=1;var b=2"),
        ("/* block */ let  x = a + + b", "let x=a+ +b"),
        ("a = b\n++c", "a=b\n++c"),                                        // ASI: the newline stays
        ("return\nx", "return\nx"),                                        // restricted production
        ("x = a / b / c", "x=a/b/c"),                                      // division
        ("x = s.replace(/ a  b /g, '')", "x=s.replace(/ a  b /g,'')"),     // regex kept byte for byte
        ("if (a) { return /[/]\\//.test(s) }", "if(a){return/[/]\\//.test(s)}"),
        ("const t = `a ${ b + `c ${ d }` }  e`", "const t=`a ${b+`c ${d}`}  e`"),   // nested templates
        ("s = 'it''s'  +  \"q \\\" \"", "s='it''s'+\"q \\\" \""),
        ("class A { #p = 1; get() { return this.#p; } }", "class A{#p=1;get(){return this.#p}}"),
        ("for (;;) { a(); }", "for(;;){a()}"),
        ("x = a +\n b", "x=a+b"),
        ("x = a\n.b", "x=a.b"),
        ("x = a++\nb", "x=a++\nb"),
        ("x = a\n!b", "x=a\n!b"),
        ("a?.b ?? c", "a?.b??c"),
        ("x = 1 .toString()", "x=1 .toString()"),
        ("/*! licence */\nvar a", "/*! licence */\nvar a"),
        ("a\n}", "a}"),
        ("i = 1e-5 + 2", "i=1e-5+2"),
        ("x = a - -b", "x=a- -b"),
    ])
    func minifies(_ input: String, _ expected: String) {
        #expect(Self.min(input) == expected)
    }

    @Test(arguments: ["var s = 'unterminated", "x = `open ${ a", "/* never closed", "x = (/abc"])
    func failsSafe(_ input: String) {
        guard case .unchanged(let reason) = JSMinifier.minify(Array(input.utf8)) else {
            Issue.record("\(input) should have been left alone")
            return
        }
        #expect(reason.contains("unterminated"))
    }

    /// Runs the original and the minified script in node and compares what they print.
    @Test func behavesTheSameInNode() throws {
        guard let node = ProcessRun.find(["/usr/bin/node", "/usr/local/bin/node"]) else {
            print("node is not installed: the run-both check did not run")
            return
        }
        let script = """
            /*! test licence */
            'use strict';
            // Automatic semicolon insertion, regex vs division, templates, classes.
            let a = 10
            let b = 2
            const out = []
            out.push(a / b / 5)
            out.push('a/b'.replace(/\\//g, ' over '))
            const name = 'x'
            out.push(`nested ${ `inner ${ name + 1 }` } done`)
            class Counter {
              #count = 0
              inc() { return ++this.#count }
            }
            const c = new Counter()
            c.inc(); out.push(c.inc())
            const obj = { deep: { value: 42 } }
            out.push(obj?.deep?.value ?? 'none')
            let i = 0
            i
            ++i
            out.push(i)
            function f() {
              return
                7
            }
            out.push(f())
            out.push([1, 2, 3].map(x => x * 2).filter(x => x > 2).length)
            out.push(1 .toString() + 2e-1)
            console.log(JSON.stringify(out))
            """
        let dir = NSTemporaryDirectory() + "outpost-js-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let minified = Self.min(script)
        #expect(minified.count < script.count && minified != "UNCHANGED")
        try script.write(toFile: dir + "/a.js", atomically: true, encoding: .utf8)
        try minified.write(toFile: dir + "/b.js", atomically: true, encoding: .utf8)
        func run(_ file: String) throws -> String { try ProcessRun.run(node, [file]).stdout }
        let original = try run(dir + "/a.js")
        #expect(!original.isEmpty)
        #expect(try run(dir + "/b.js") == original, "minified: \(minified)")
        let demo = try String(contentsOfFile: Self.repo + "/origin/site/js/app.js", encoding: .utf8)
        try Self.min(demo).write(toFile: dir + "/c.js", atomically: true, encoding: .utf8)
        let check = try ProcessRun.run(node, ["--check", dir + "/c.js"])
        #expect(check.status == 0, "the demo site's script still parses")
    }

    static let repo: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return "."
    }()
}

@Suite struct CSSMinifierTests {
    @Test(arguments: [
        ("a { color : red ; }", "a{color :red}"),
        ("/* c */ .a , .b > .c { margin: 0 auto; }", ".a,.b>.c{margin:0 auto}"),
        ("a { width: calc(1rem + 0.5vw); }", "a{width:calc(1rem + 0.5vw)}"),
        ("a { content: \"  two  spaces  \"; }", "a{content:\"  two  spaces  \"}"),
        ("a { background: url( x.png ) no-repeat; }", "a{background:url( x.png ) no-repeat}"),
        (":root { --gap: 1rem; }", ":root{--gap:1rem}"),
        ("a :hover { x: y }", "a :hover{x:y}"),
        ("@media (max-width: 480px) { a { b: c } }", "@media (max-width:480px){a{b:c}}"),
        ("/*! keep */ a{}", "/*! keep */\na{}"),
    ])
    func minifies(_ input: String, _ expected: String) {
        guard case .minified(let b) = CSSMinifier.minify(Array(input.utf8)) else { Issue.record("unchanged"); return }
        #expect(String(decoding: b, as: UTF8.self) == expected)
    }

    @Test func failsSafe() {
        #expect(CSSMinifier.minify(Array("a { content: 'open }".utf8)) == .unchanged(reason: "unterminated string"))
    }
}

@Suite struct HTMLMinifierTests {
    static func min(_ s: String) -> String {
        guard case .minified(let b) = HTMLMinifier.minify(Array(s.utf8)) else { return "UNCHANGED" }
        return String(decoding: b, as: UTF8.self)
    }

    @Test(arguments: [
        ("<p>  Hello \n   <b>world</b>  !</p>", "<p> Hello <b>world</b> !</p>"),
        ("<!-- gone --><p>x</p>", "<p>x</p>"),
        ("<!--[if IE]><p>ie</p><![endif]-->", "<!--[if IE]><p>ie</p><![endif]-->"),
        ("<pre>  a\n   b </pre>", "<pre>  a\n   b </pre>"),
        ("<textarea> keep   this </textarea>", "<textarea> keep   this </textarea>"),
        ("<style> a { color: red } </style>", "<style>a{color:red}</style>"),
        ("<script> var a = 1 ; // c\n </script>", "<script>var a=1;</script>"),
        ("<script type=\"text/template\"> <b>  x </b> </script>", "<script type=\"text/template\"> <b>  x </b> </script>"),
        ("<a title=\"a   b\"  href=x>y</a>", "<a title=\"a   b\"  href=x>y</a>"),
    ])
    func minifies(_ input: String, _ expected: String) {
        #expect(Self.min(input) == expected)
    }

    @Test func failsSafe() {
        #expect(HTMLMinifier.minify(Array("<p>x<!-- open".utf8)) == .unchanged(reason: "unterminated <!-- comment"))
    }

    @Test func demoSiteShrinks() throws {
        let html = Array(try Data(contentsOf: URL(fileURLWithPath: JSMinifierTests.repo + "/origin/site/index.html")))
        let out = HTMLMinifier.minify(html).bytes(or: html)
        #expect(out.count < html.count * 9 / 10)
        #expect(String(decoding: out, as: UTF8.self).contains("<pre>\nMon–Fri   07:00 – 18:00\n"), "pre kept")
    }
}

@Suite struct CodecTests {
    static let text = Array(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 200).utf8)

    @Test(arguments: ContentCoding.allCases)
    func roundTrips(_ coding: ContentCoding) throws {
        guard coding.isAvailable else {
            print("\(coding) is not available on this machine")
            return
        }
        let compressed = try Codec.compress(Self.text, coding, level: 5)
        #expect(compressed.count < Self.text.count / 10)
        #expect(try Codec.decompress(compressed, coding) == Self.text)
        #expect(try Codec.decompress(try Codec.compress([], coding, level: 5), coding) == [])
    }

    @Test func gzipIsRealGzip() throws {
        let gz = try Codec.compress(Self.text, .gzip, level: 6)
        #expect(gz[0] == 0x1F && gz[1] == 0x8B, "RFC 1952 magic")
        #expect(throws: CodecError.self) { try Codec.decompress(Array(gz.prefix(gz.count / 2)), .gzip) }
        #expect(throws: CodecError.self) { try Codec.decompress([1, 2, 3, 4], .br) }
    }

    @Test(arguments: [
        ("gzip, deflate, br", ContentCoding.br),
        ("gzip", .gzip),
        ("br;q=0.5, gzip;q=0.8", .gzip),
        ("*", .br),
        ("br;q=0, *;q=0.1", .zstd),
        ("identity", nil),
        ("", nil),
        ("gzip;q=0", nil),
    ] as [(String, ContentCoding?)])
    func negotiates(_ header: String, _ expected: ContentCoding?) {
        #expect(AcceptEncoding.choose(header, available: [.br, .zstd, .gzip]) == expected)
    }

    @Test func pipelineMinifiesThenCompressesAndSkipsImages() {
        let css = Array(String(repeating: "a { color : red ; }\n", count: 100).utf8)
        let out = AssetPipeline().process(css, contentType: "text/css; charset=utf-8", strongest: false)
        #expect(out.minified && out.body.count < css.count)
        #expect(out.variants[.gzip] != nil && out.variants[.br] != nil)
        #expect(try! Codec.decompress(out.variants[.br]!, .br) == out.body)
        let png = AssetPipeline().process(css, contentType: "image/png", strongest: false)
        #expect(png.variants.isEmpty && !png.minified)
        let tiny = AssetPipeline().process(Array("a{}".utf8), contentType: "text/css", strongest: false)
        #expect(tiny.variants.isEmpty, "tiny bodies are left alone")
    }
}
