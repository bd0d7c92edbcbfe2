# `make ui`: a local Prefect server and UI on http://127.0.0.1:4200 serving the trainer-sync
# deployments, on the demo's store and EWS emulator. Without demo data it runs the demo on
# that server first, so its runs are in the UI; `make demo` while the server is up sends its
# runs there too. Everything stays in .demo/: the server's own PREFECT_HOME, so a
# Prefect set up elsewhere on this machine is left alone. Ctrl+C stops serve, the server and
# the emulator (those this target started).
UI_HOST := 127.0.0.1
UI_PORT ?= 4200
# The demo's port (DEMO_EWS_PORT, 8765 by default): the store's service is pointed there. An
# emulator already on it is used only if it holds the demo's accounts; anything else there
# stops `make ui` with what to do (trainer_sync/demo/ui_emulator.py).
UI_EWS_PORT ?= $(or $(DEMO_EWS_PORT),8765)
UI_DIR := $(CURDIR)/.demo

.PHONY: ui

ui: $(STAMP)
	@mkdir -p "$(UI_DIR)/prefect"
	@set -eu; \
	export PREFECT_HOME="$(UI_DIR)/prefect"; \
	export PREFECT_SERVER_ANALYTICS_ENABLED=false; \
	export PREFECT_API_URL="http://$(UI_HOST):$(UI_PORT)/api"; \
	export TRAINER_SYNC_DATABASE_URL="sqlite:///$(UI_DIR)/trainer_sync.db"; \
	export TRAINER_SYNC_DEMO_PASSWORD=demo-master-pw; \
	answers() { "$(BIN)/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$$1" 2>/dev/null; }; \
	server=""; ews=""; \
	stop() { \
		for pid in $$ews $$server; do kill -TERM "-$$pid" 2>/dev/null || true; done; \
		for pid in $$ews $$server; do wait "$$pid" 2>/dev/null || true; done; \
	}; \
	trap stop EXIT; trap 'exit 130' INT TERM; \
	if answers "$$PREFECT_API_URL/health"; then \
		echo "Using the Prefect server already running at $$PREFECT_API_URL."; \
	else \
		setsid "$(BIN)/prefect" server start --host $(UI_HOST) --port $(UI_PORT) \
			> "$(UI_DIR)/prefect/server.log" 2>&1 & server=$$!; \
		echo "Starting the Prefect server (log: .demo/prefect/server.log)..."; \
		waited=0; \
		until answers "$$PREFECT_API_URL/health"; do \
			if ! kill -0 "$$server" 2>/dev/null || [ "$$waited" -ge 90 ]; then \
				echo "The Prefect server did not start; see .demo/prefect/server.log." >&2; \
				tail -n 20 "$(UI_DIR)/prefect/server.log" >&2; exit 1; \
			fi; \
			sleep 1; waited=$$((waited + 1)); \
		done; \
	fi; \
	if [ ! -f "$(UI_DIR)/trainer_sync.db" ]; then \
		echo "No demo data in .demo/ yet: running the demo on this server first."; \
		DEMO_EWS_PORT=$(UI_EWS_PORT) "$(BIN)/python" -m trainer_sync.demo; \
	fi; \
	choice=$$(DEMO_EWS_PORT=$(UI_EWS_PORT) "$(BIN)/python" -m trainer_sync.demo.ui_emulator \
		"$(UI_DIR)/trainer_sync.db"); \
	if [ "$$choice" = "reuse $(UI_EWS_PORT)" ]; then \
		echo "Using the EWS emulator already running on $(UI_HOST):$(UI_EWS_PORT) (it holds the demo's accounts)."; \
	else \
		setsid "$(BIN)/trainer-sync" emulator ews --host $(UI_HOST) --port $(UI_EWS_PORT) \
			--state "$(UI_DIR)/ews-state.json" > "$(UI_DIR)/ews.log" 2>&1 & ews=$$!; \
		echo "Started the EWS emulator on $(UI_HOST):$(UI_EWS_PORT) (log: .demo/ews.log)."; \
	fi; \
	"$(BIN)/trainer-sync" db upgrade > /dev/null; \
	"$(BIN)/trainer-sync" serve
