/// A TOML document, parsed by the subset of TOML 1.0 that Outpost's configuration uses: tables,
/// arrays of tables, bare and quoted keys, dotted keys, basic and literal strings, integers,
/// floats, booleans, arrays (over several lines) and inline tables. Every value remembers its
/// line so that an error can name it.
public struct TOMLDocument: Sendable {
    public let root: TOMLTable

    public init(parsing text: String, file: String) throws(ConfigError) {
        var parser = TOMLParser(text: Array(text.unicodeScalars), file: file)
        root = try parser.parseDocument()
    }
}

public struct TOMLTable: Sendable {
    public struct Entry: Sendable {
        public var value: TOMLValue
        public var line: Int
    }
    public private(set) var entries: [String: Entry] = [:]
    public private(set) var keys: [String] = []
    /// Line where the table was opened (0 for the root).
    public var line: Int

    public init(line: Int) { self.line = line }

    public subscript(key: String) -> Entry? { entries[key] }

    mutating func set(_ key: String, _ entry: Entry) {
        if entries[key] == nil { keys.append(key) }
        entries[key] = entry
    }
}

public indirect enum TOMLValue: Sendable {
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    case array([TOMLValue])
    case table(TOMLTable)

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

struct TOMLParser {
    let text: [Unicode.Scalar]
    let file: String
    var pos = 0
    var line = 1
    /// Arrays and inline tables open now: bounded, so a hostile file cannot exhaust the stack.
    var depth = 0

    init(text: [Unicode.Scalar], file: String) {
        self.text = text
        self.file = file
    }

    private func fail(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, field: nil, message: message)
    }

    private var current: Unicode.Scalar? { pos < text.count ? text[pos] : nil }

    private mutating func advance() {
        if text[pos] == "\n" { line += 1 }
        pos += 1
    }

    private mutating func skipSpaces() {
        while let c = current, c == " " || c == "\t" { advance() }
    }

    private mutating func skipComment() {
        if current == "#" { while let c = current, c != "\n" { advance() } }
    }

    /// Spaces, comments and newlines (inside arrays and between statements).
    private mutating func skipBlank() {
        while let c = current {
            if c == " " || c == "\t" || c == "\r" || c == "\n" { advance() } else if c == "#" { skipComment() } else { break }
        }
    }

    private mutating func expectLineEnd() throws(ConfigError) {
        skipSpaces()
        skipComment()
        if current == "\r" { advance() }
        guard current == nil || current == "\n" else {
            throw fail("unexpected '\(current!)' after a value; one key = value per line")
        }
    }

    mutating func parseDocument() throws(ConfigError) -> TOMLTable {
        var root = TOMLTable(line: 0)
        var path: [String] = []        // current [table] path
        var pathIsArray = false
        var definedTables: Set<[String]> = []
        while true {
            skipBlank()
            guard let c = current else { break }
            if c == "[" {
                let startLine = line
                advance()
                let isArray = current == "["
                if isArray { advance() }
                skipSpaces()
                let key = try parseKey()
                skipSpaces()
                guard current == "]" else { throw fail("expected ']' to close the table header") }
                advance()
                if isArray {
                    guard current == "]" else { throw fail("expected ']]' to close the array-of-tables header") }
                    advance()
                }
                try expectLineEnd()
                if isArray {
                    try appendArrayTable(&root, at: key, line: startLine)
                } else {
                    guard !definedTables.contains(key) else {
                        throw ConfigError(file: file, line: startLine, field: key.joined(separator: "."), message: "table defined twice")
                    }
                    definedTables.insert(key)
                    try ensureTable(&root, at: key, line: startLine)
                }
                path = key
                pathIsArray = isArray
            } else {
                let startLine = line
                let key = try parseKey()
                skipSpaces()
                guard current == "=" else { throw fail("expected '=' after key '\(key.joined(separator: "."))'") }
                advance()
                skipSpaces()
                let value = try parseValue()
                try expectLineEnd()
                try insert(&root, tablePath: path, inArray: pathIsArray, key: key, entry: .init(value: value, line: startLine))
            }
        }
        return root
    }

    private mutating func parseKey() throws(ConfigError) -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            if current == "\"" || current == "'" {
                parts.append(try parseString())
            } else {
                var s = ""
                while let c = current, c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "-" {
                    s.unicodeScalars.append(c)
                    advance()
                }
                guard !s.isEmpty else { throw fail("expected a key") }
                parts.append(s)
            }
            skipSpaces()
            if current == "." { advance() } else { return parts }
        }
    }

    private mutating func parseValue() throws(ConfigError) -> TOMLValue {
        guard let c = current else { throw fail("expected a value") }
        if c == "[" || c == "{" {
            guard depth < 32 else { throw fail("arrays and inline tables nest more than 32 deep") }
            depth += 1
        }
        defer { if c == "[" || c == "{" { depth -= 1 } }
        switch c {
        case "\"", "'": return .string(try parseString())
        case "[":
            advance()
            var items: [TOMLValue] = []
            while true {
                skipBlank()
                if current == "]" { advance(); return .array(items) }
                items.append(try parseValue())
                skipBlank()
                if current == "," { advance(); continue }
                if current == "]" { advance(); return .array(items) }
                throw fail("expected ',' or ']' in an array")
            }
        case "{":
            advance()
            var table = TOMLTable(line: line)
            skipSpaces()
            if current == "}" { advance(); return .table(table) }
            while true {
                skipSpaces()
                let keyLine = line
                let key = try parseKey()
                skipSpaces()
                guard current == "=" else { throw fail("expected '=' in an inline table") }
                advance()
                skipSpaces()
                let v = try parseValue()
                try setPath(&table, key, .init(value: v, line: keyLine))
                skipSpaces()
                if current == "," { advance(); continue }
                if current == "}" { advance(); return .table(table) }
                throw fail("expected ',' or '}' in an inline table")
            }
        default:
            var s = ""
            while let c = current, !(c == "," || c == "]" || c == "}" || c == " " || c == "\t" || c == "\n" || c == "\r" || c == "#") {
                s.unicodeScalars.append(c)
                advance()
            }
            if s == "true" { return .bool(true) }
            if s == "false" { return .bool(false) }
            let digits = s.filter { $0 != "_" }
            if let i = Int(digits) { return .integer(i) }
            if let d = Double(digits), digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .float(d) }
            throw fail(s.isEmpty ? "expected a value" : "'\(s)' is not a TOML value (strings need quotes)")
        }
    }

    private mutating func parseString() throws(ConfigError) -> String {
        let quote = current!
        advance()
        var s = ""
        while true {
            guard let c = current, c != "\n" else { throw fail("unterminated string") }
            advance()
            if c == quote { return s }
            if c == "\\" && quote == "\"" {
                guard let e = current else { throw fail("unterminated string") }
                advance()
                switch e {
                case "n": s += "\n"
                case "t": s += "\t"
                case "r": s += "\r"
                case "\\": s += "\\"
                case "\"": s += "\""
                case "u", "U":
                    let n = e == "u" ? 4 : 8
                    var hex = ""
                    for _ in 0..<n {
                        guard let h = current else { throw fail("bad \\\(e) escape") }
                        hex.unicodeScalars.append(h)
                        advance()
                    }
                    guard let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v) else { throw fail("bad \\\(e) escape") }
                    s.unicodeScalars.append(scalar)
                default: throw fail("unknown escape '\\\(e)' in a string")
                }
            } else {
                s.unicodeScalars.append(c)
            }
        }
    }

    // MARK: building the tree

    private func setPath(_ table: inout TOMLTable, _ key: [String], _ entry: TOMLTable.Entry) throws(ConfigError) {
        if key.count == 1 {
            guard table[key[0]] == nil else {
                throw ConfigError(file: file, line: entry.line, field: key[0], message: "key defined twice")
            }
            table.set(key[0], entry)
            return
        }
        var sub: TOMLTable
        switch table[key[0]]?.value {
        case nil: sub = TOMLTable(line: entry.line)
        case .table(let t)?: sub = t
        default: throw ConfigError(file: file, line: entry.line, field: key[0], message: "is not a table")
        }
        try setPath(&sub, Array(key.dropFirst()), entry)
        table.set(key[0], .init(value: .table(sub), line: sub.line))
    }

    private func ensureTable(_ table: inout TOMLTable, at key: [String], line: Int) throws(ConfigError) {
        guard let first = key.first else { return }
        var sub: TOMLTable
        switch table[first]?.value {
        case nil: sub = TOMLTable(line: line)
        case .table(let t)?: sub = t
        case .array(var items)? where !items.isEmpty:
            // [a.b] after [[a]] refers to the last element of a.
            guard case .table(var last) = items.removeLast() else { fallthrough }
            try ensureTable(&last, at: Array(key.dropFirst()), line: line)
            items.append(.table(last))
            table.set(first, .init(value: .array(items), line: table[first]!.line))
            return
        default: throw ConfigError(file: file, line: line, field: first, message: "is not a table")
        }
        try ensureTable(&sub, at: Array(key.dropFirst()), line: line)
        table.set(first, .init(value: .table(sub), line: table[first]?.line ?? line))
    }

    private func appendArrayTable(_ table: inout TOMLTable, at key: [String], line: Int) throws(ConfigError) {
        let first = key[0]
        if key.count == 1 {
            var items: [TOMLValue] = []
            switch table[first]?.value {
            case nil: break
            case .array(let a)?: items = a
            default: throw ConfigError(file: file, line: line, field: first, message: "is not an array of tables")
            }
            items.append(.table(TOMLTable(line: line)))
            table.set(first, .init(value: .array(items), line: table[first]?.line ?? line))
            return
        }
        switch table[first]?.value {
        case nil:
            var sub = TOMLTable(line: line)
            try appendArrayTable(&sub, at: Array(key.dropFirst()), line: line)
            table.set(first, .init(value: .table(sub), line: line))
        case .table(var sub)?:
            try appendArrayTable(&sub, at: Array(key.dropFirst()), line: line)
            table.set(first, .init(value: .table(sub), line: table[first]!.line))
        case .array(var items)?:
            guard case .table(var last)? = items.popLast() else {
                throw ConfigError(file: file, line: line, field: first, message: "is not an array of tables")
            }
            try appendArrayTable(&last, at: Array(key.dropFirst()), line: line)
            items.append(.table(last))
            table.set(first, .init(value: .array(items), line: table[first]!.line))
        default: throw ConfigError(file: file, line: line, field: first, message: "is not a table")
        }
    }

    private func insert(_ root: inout TOMLTable, tablePath: [String], inArray: Bool, key: [String], entry: TOMLTable.Entry) throws(ConfigError) {
        try modify(&root, path: tablePath) { (t: inout TOMLTable) throws(ConfigError) in
            try setPath(&t, key, entry)
        }
    }

    /// Applies `body` to the table at `path`, descending into the last element of arrays of tables.
    private func modify(_ table: inout TOMLTable, path: [String], _ body: (inout TOMLTable) throws(ConfigError) -> Void) throws(ConfigError) {
        guard let first = path.first else { try body(&table); return }
        let rest = Array(path.dropFirst())
        switch table[first]?.value {
        case .table(var sub)?:
            try modify(&sub, path: rest, body)
            table.set(first, .init(value: .table(sub), line: table[first]!.line))
        case .array(var items)?:
            guard case .table(var last)? = items.popLast() else { throw fail("'\(first)' is not a table") }
            try modify(&last, path: rest, body)
            items.append(.table(last))
            table.set(first, .init(value: .array(items), line: table[first]!.line))
        default:
            throw fail("'\(first)' is not a table")
        }
    }
}

