from agentdesk.cli.root import run

run()
