from ollama_proxy.cli import main

main()
