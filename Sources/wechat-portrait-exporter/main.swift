import Foundation
import PortraitRuntime

// Everything lives in PortraitRuntime so that tests run exactly what this executable runs.
let status = await Runtime.main(Array(CommandLine.arguments.dropFirst()))
exit(status)
