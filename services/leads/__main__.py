from services.leads.main import main

main()
