import BloomCore
import XCTest

/// Asserts that `body` throws a `BloomError` with `code`, and returns it (its message, path and offset are the
/// caller's to check).
@discardableResult
public func assertBloomError<T>(_ code: BloomError.Code, _ message: @autoclosure () -> String = "",
                                file: StaticString = #filePath, line: UInt = #line,
                                _ body: () throws -> T) -> BloomError? {
    do {
        _ = try body()
        XCTFail("expected error \(code), nothing was thrown. \(message())", file: file, line: line)
    } catch let error as BloomError {
        XCTAssertEqual(error.code, code, "\(message()): \(error.description)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected BloomError \(code), got \(error). \(message())", file: file, line: line)
    }
    return nil
}
