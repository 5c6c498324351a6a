# The two commands of the README. Everything else lives in scripts/.
.PHONY: dev test tools package

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

tools:
	@scripts/tools.sh

package:
	@scripts/package.sh
