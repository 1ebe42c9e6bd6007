"""API: export jobs (spec §6, §2). Reporting writes the CSV file; the gateway
starts the job, shows its progress and streams the file back in chunks."""
import base64

from flask import Response, g, jsonify, stream_with_context, url_for

from common.errors import Conflict
from gateway import bodies
from gateway.api import json_body, operation
from gateway.idempotency import idempotent
from gateway.rpc import call

CHUNK = 1024 * 1024  # reporting answers at most 1 MB per read_export


def with_download_url(job):
    job["download_url"] = (url_for("api.export_download", export_id=job["id"])
                           if job["status"] == "done" else None)
    return job


@operation("/exports", "POST", summary="Start a CSV export of a section with its list's filters "
           "({section, filters, decimal}; Idempotency-Key accepted)", tag="exports", body=bodies.ExportIn,
           status=201)
@idempotent
def create_export():
    return jsonify(with_download_url(call("reporting", "create_export", g.merchant.id, json_body()))), 201


@operation("/exports/<export_id>", "GET", summary="An export job: status, rows_done, rows_total, "
           "download_url once done", tag="exports")
def export(export_id):
    return jsonify(with_download_url(call("reporting", "get_export", g.merchant.id, export_id)))


@operation("/exports/<export_id>/download", "GET", summary="The CSV file of a done export (409 until done)",
           tag="exports")
def export_download(export_id):
    return export_file_response(g.merchant.id, export_id)


def export_file_response(merchant_id, export_id):
    """The file of a done export, streamed from reporting in chunks (409 until done)."""
    job = call("reporting", "get_export", merchant_id, export_id)
    if job["status"] != "done":
        raise Conflict(f"the export is {job['status']}, not done", {"status": job["status"]})

    def chunks():
        offset = 0
        while True:
            chunk = call("reporting", "read_export", merchant_id, export_id, offset, CHUNK)
            content = base64.b64decode(chunk["content_base64"])
            offset += len(content)
            yield content
            if chunk["eof"] or not content:
                return

    return Response(stream_with_context(chunks()), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{job["filename"]}"'})
