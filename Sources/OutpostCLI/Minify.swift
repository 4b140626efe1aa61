import ArgumentParser
import Assets
import Foundation

struct Minify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what the edge would serve for an HTML, CSS or JS file: its minified bytes.",
        discussion: "The type comes from --type or the file name; with no file, standard input is read. When the minifier cannot be sure, it prints the original and says why on standard error."
    )

    @Option(help: "html, css or js.") var type: String?
    @Argument(help: "The file (default: standard input).") var file: String?

    func run() throws {
        let input: Data
        if let file {
            guard let d = FileManager.default.contents(atPath: file) else { throw OperatorError("cannot read \(file)") }
            input = d
        } else {
            input = FileHandle.standardInput.readDataToEndOfFile()
        }
        guard let kind = type.flatMap(AssetKind.init(rawValue:)) ?? file.flatMap({ AssetKind(fileName: $0) }) else {
            throw ValidationError("say which kind with --type html|css|js (or name a .html, .css or .js file)")
        }
        let bytes = Array(input)
        let result = kind.minify(bytes)
        if case .unchanged(let reason) = result { Log.line("outpost minify: kept the original (\(reason))") }
        FileHandle.standardOutput.write(Data(result.bytes(or: bytes)))
    }
}
