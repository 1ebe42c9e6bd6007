"""What every Debito service needs: config, database, clock, money, SEPA
identifiers, the TARGET2 calendar, CSV writing, errors."""
import warnings

# eventlet warns on import that it is in maintenance mode; nameko 2 needs it.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
