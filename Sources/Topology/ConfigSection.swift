import Foundation

/// Typed reading of one TOML table, with errors that name the file, line and full field path.
/// Unknown keys are an error too: a misspelt setting silently ignored is worse than a refusal.
public struct ConfigSection: Sendable {
    public let table: TOMLTable
    public let file: String
    /// Dotted path of this table, e.g. `data_centers[1]`; empty for the root.
    public let path: String
    private let known: Set<String>

    public init(table: TOMLTable, file: String, path: String = "") {
        self.table = table
        self.file = file
        self.path = path
        self.known = []
    }

    /// Reads and parses a TOML file.
    public static func load(file: String) throws(ConfigError) -> ConfigSection {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError(file: file, line: nil, field: nil, message: "cannot read the file (\(Self.reason(error))); check the path")
        }
        return ConfigSection(table: try TOMLDocument(parsing: text, file: file).root, file: file)
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedDescription
    }

    func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: table[key]?.line ?? (table.line > 0 ? table.line : nil), field: fieldPath(key), message: message)
    }

    /// Fails on keys outside `allowed`, naming the first one found.
    public func rejectUnknownKeys(_ allowed: Set<String>) throws(ConfigError) {
        for key in table.keys where !allowed.contains(key) {
            throw error(key, "unknown setting; known here: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    public func string(_ key: String) throws(ConfigError) -> String? {
        guard let entry = table[key] else { return nil }
        guard case .string(let s) = entry.value else { throw error(key, "expected a string, found \(entry.value.typeName)") }
        return s
    }

    public func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let s = try string(key) else { throw error(key, "missing; this setting is required") }
        return s
    }

    public func integer(_ key: String) throws(ConfigError) -> Int? {
        guard let entry = table[key] else { return nil }
        guard case .integer(let i) = entry.value else { throw error(key, "expected an integer, found \(entry.value.typeName)") }
        return i
    }

    public func double(_ key: String) throws(ConfigError) -> Double? {
        guard let entry = table[key] else { return nil }
        switch entry.value {
        case .integer(let i): return Double(i)
        case .float(let d): return d
        default: throw error(key, "expected a number, found \(entry.value.typeName)")
        }
    }

    public func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let entry = table[key] else { return nil }
        guard case .bool(let b) = entry.value else { throw error(key, "expected true or false, found \(entry.value.typeName)") }
        return b
    }

    public func strings(_ key: String) throws(ConfigError) -> [String]? {
        guard let entry = table[key] else { return nil }
        guard case .array(let items) = entry.value else { throw error(key, "expected an array of strings, found \(entry.value.typeName)") }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw error(key, "expected an array of strings, found \(item.typeName) in it") }
            out.append(s)
        }
        return out
    }

    /// One of an enum's words, e.g. `eviction = "lru"`.
    public func choice<T: RawRepresentable & CaseIterable>(_ key: String, _: T.Type) throws(ConfigError) -> T? where T.RawValue == String {
        guard let word = try string(key) else { return nil }
        guard let value = T(rawValue: word) else {
            throw error(key, "'\(word)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// An array of an enum's words, e.g. `minify = ["html", "css"]`.
    public func choices<T: RawRepresentable & CaseIterable>(_ key: String, _: T.Type) throws(ConfigError) -> [T]? where T.RawValue == String {
        guard let words = try strings(key) else { return nil }
        var out: [T] = []
        for word in words {
            guard let value = T(rawValue: word) else {
                throw error(key, "'\(word)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            out.append(value)
        }
        return out
    }

    /// A size such as `64MiB`; a bare integer is bytes. At most `max` (default 1 PiB).
    public func byteSize(_ key: String, max: Int = 1 << 50) throws(ConfigError) -> Int? {
        guard let entry = table[key] else { return nil }
        switch entry.value {
        case .integer(let i) where i >= 0:
            guard i <= max else { throw error(key, "is larger than \(ByteSize.format(max)), the most this setting takes") }
            return i
        case .string(let s):
            guard let n = ByteSize.parse(s) else { throw error(key, "'\(s)' is not a size; write e.g. 512KiB, 64MiB or 1GiB") }
            guard n <= max else { throw error(key, "'\(s)' is larger than \(ByteSize.format(max)), the most this setting takes") }
            return n
        default: throw error(key, "expected a size such as \"64MiB\", found \(entry.value.typeName)")
        }
    }

    public func listenAddress(_ key: String) throws(ConfigError) -> ListenAddress? {
        guard let s = try string(key) else { return nil }
        guard let a = ListenAddress(s) else { throw error(key, "'\(s)' is not HOST:PORT (e.g. 127.0.1.1:8080 or [::1]:8080)") }
        return a
    }

    public func section(_ key: String) throws(ConfigError) -> ConfigSection? {
        guard let entry = table[key] else { return nil }
        guard case .table(let t) = entry.value else { throw error(key, "expected a table, found \(entry.value.typeName)") }
        return ConfigSection(table: t, file: file, path: fieldPath(key))
    }

    public func sections(_ key: String) throws(ConfigError) -> [ConfigSection] {
        guard let entry = table[key] else { return [] }
        guard case .array(let items) = entry.value else { throw error(key, "expected [[\(key)]] tables, found \(entry.value.typeName)") }
        var out: [ConfigSection] = []
        for (i, item) in items.enumerated() {
            guard case .table(let t) = item else { throw error(key, "expected [[\(key)]] tables, found \(item.typeName)") }
            out.append(ConfigSection(table: t, file: file, path: "\(fieldPath(key))[\(i)]"))
        }
        return out
    }
}
