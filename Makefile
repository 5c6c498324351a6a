# The two commands of the README. Everything else lives in scripts/.
.PHONY: dev test tools package bench

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

tools:
	@scripts/tools.sh

package:
	@scripts/package.sh

# Benchmarks (BENCHMARKS.md); not part of `make test`.
bench:
	@scripts/bench.sh
