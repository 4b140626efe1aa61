import Foundation

/// Runs blocking work on a thread of its own, so that it holds none of the few cooperative
/// threads every other test needs.
public func offThePool(_ work: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        Thread.detachNewThread {
            work()
            c.resume()
        }
    }
}

/// The same, for blocking work with a result.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        Thread.detachNewThread {
            c.resume(with: Result { try work() })
        }
    }
}
