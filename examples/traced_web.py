from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BaseModel

from examples.emails import send_welcome_email
from examples.telemetry import setup_tracing

setup_tracing("signup-api")
app = FastAPI()
FastAPIInstrumentor.instrument_app(app)  # a span per request: the trigger's span is its child


class SignUp(BaseModel):
    email: str
    name: str


@app.post("/signups", status_code=202)
async def sign_up(body: SignUp) -> dict[str, str]:
    handle = await send_welcome_email.trigger({"to": body.email, "name": body.name})  # stores the trace context
    return {"job_id": handle.id}
