import FuzzTargets
import Foundation

// Built two ways. With `-sanitize=fuzzer,address -DFUZZING` (Fuzz/run.sh) it is a libFuzzer
// binary for the target named by OUTPOST_FUZZ_TARGET. Built normally it replays files:
// `outpost-fuzz TARGET FILE...` runs each file through the target once (a crash reproducer).

#if FUZZING
nonisolated(unsafe) private var selected: (@Sendable ([UInt8]) -> Void)?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selected?(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

// SwiftPM links executables with their own entry point, so libFuzzer's main is not used;
// its driver is called instead.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzCallback
) -> CInt

@main
struct OutpostFuzz {
    static func main() {
        let name = ProcessInfo.processInfo.environment["OUTPOST_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTargets.all[name] else {
            FileHandle.standardError.write(Data("set OUTPOST_FUZZ_TARGET to one of: \(FuzzTargets.names.joined(separator: ", "))\n".utf8))
            exit(2)
        }
        selected = target
        var argc = CommandLine.argc
        var argv = Optional(CommandLine.unsafeArgv)
        exit(runDriver(&argc, &argv, fuzzOne))
    }
}
#else
@main
struct OutpostFuzz {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTargets.all[name] else {
            print("usage: outpost-fuzz TARGET FILE...   (targets: \(FuzzTargets.names.joined(separator: ", ")))")
            exit(2)
        }
        for file in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("cannot read \(file)")
                exit(1)
            }
            target(Array(data))
        }
        print("\(args.count - 1) inputs through \(name): no crash")
    }
}
#endif
