from common.migrations import run_env
from mandates.models import Base

run_env(Base.metadata)
